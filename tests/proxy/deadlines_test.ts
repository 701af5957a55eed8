import assert from "node:assert/strict";
import { createDeadlines } from "../../src/proxy/deadlines.ts";

Deno.test("deadlines fire in time order, once, and cancelled ones never", async () => {
  const d = createDeadlines(() => performance.now(), 5);
  const fired: string[] = [];
  const start = performance.now();
  d.add(start + 60, () => fired.push("b"));
  d.add(start + 20, () => fired.push("a"));
  const c = d.add(start + 40, () => fired.push("cancelled"));
  d.cancel(c);
  const done = Promise.withResolvers<void>();
  d.add(start + 80, () => done.resolve());
  await done.promise;
  assert.deepEqual(fired, ["a", "b"]);
  assert.ok(performance.now() - start >= 80);
  assert.equal(d.size, 0);
});

Deno.test("a cancelled or fired deadline lets go of its callback and what it holds", async () => {
  const d = createDeadlines(() => performance.now(), 5);
  const request = { body: new Uint8Array(1024) };
  const cancelled = d.add(performance.now() + 60_000, () => request.body.fill(1));
  d.cancel(cancelled);
  const fired = Promise.withResolvers<void>();
  const due = d.add(performance.now() + 10, () => {
    request.body.fill(2);
    fired.resolve();
  });
  await fired.promise;
  for (const dl of [cancelled, due]) {
    assert.doesNotMatch(String(dl.fire), /request/, "the callback must not be kept");
    dl.fire();
  }
  assert.equal(request.body[0], 2, "a dropped callback must not run");
  d.clear();
});

Deno.test("an earlier deadline added later re-arms the shared timer", async () => {
  const d = createDeadlines(() => performance.now(), 5);
  const start = performance.now();
  const late = d.add(start + 10_000, () => assert.fail("must not fire"));
  const done = Promise.withResolvers<number>();
  d.add(start + 30, () => done.resolve(performance.now()));
  const at = await done.promise;
  assert.ok(at - start < 1000, `fired after ${at - start} ms`);
  d.cancel(late);
  assert.equal(d.size, 0);
});

Deno.test({
  name: "clear() forgets every deadline and leaves no timer running",
  sanitizeOps: true,
  fn() {
    const d = createDeadlines(() => performance.now(), 5);
    d.add(performance.now() + 60_000, () => assert.fail("must not fire"));
    const cancelled = d.add(performance.now() + 30_000, () => assert.fail("must not fire"));
    d.cancel(cancelled);
    d.clear();
    assert.equal(d.size, 0);
  },
});
