import assert from "node:assert/strict";
import { WATCH_AFTER_MS, watchClient } from "../../src/proxy/client_watch.ts";
import type { Deadline, Deadlines } from "../../src/proxy/deadlines.ts";

/** Deadlines fired by hand, and a request that counts how often its signal is read. */
function setup(clock = 0) {
  const pending = new Set<Deadline>();
  const deadlines: Deadlines = {
    add: (at, fire) => {
      const d = { at, fire };
      pending.add(d);
      return d;
    },
    cancel: (d) => void (d && pending.delete(d)),
    get size() {
      return pending.size;
    },
    clear: () => pending.clear(),
  };
  const client = new AbortController();
  let reads = 0;
  const request = {
    get signal() {
      reads++;
      return client.signal;
    },
  } as unknown as Request;
  const fireDue = () => {
    for (const d of [...pending]) {
      pending.delete(d);
      d.fire();
    }
  };
  return { deadlines, client, request, reads: () => reads, fireDue, now: () => clock };
}

Deno.test("a request that ends before the watch starts never reads its client's signal", () => {
  const s = setup();
  let gone = 0;
  const watch = watchClient(s.request, 0, s, () => gone++);
  watch.release();
  assert.equal(s.deadlines.size, 0);
  s.fireDue();
  assert.equal(s.reads(), 0);
  assert.equal(gone, 0);
});

Deno.test("a client that left before the watch started is noticed as soon as it starts", () => {
  const s = setup();
  let gone = 0;
  const watch = watchClient(s.request, 0, s, () => gone++);
  s.client.abort();
  assert.equal(gone, 0);
  s.fireDue();
  assert.equal(gone, 1);
  assert.equal(watch.gone(), true);
  watch.release();
});

Deno.test("a client leaving after the watch started is noticed when it leaves", () => {
  const s = setup();
  let gone = 0;
  const watch = watchClient(s.request, 0, s, () => gone++);
  s.fireDue();
  assert.equal(watch.gone(), false);
  s.client.abort();
  assert.equal(gone, 1);
  watch.release();
});

Deno.test("a watch started late (a failover candidate) listens at once", () => {
  const s = setup(WATCH_AFTER_MS + 1);
  let gone = 0;
  const watch = watchClient(s.request, 0, s, () => gone++);
  assert.equal(s.deadlines.size, 0);
  assert.equal(s.reads(), 1);
  s.client.abort();
  assert.equal(gone, 1);
  watch.release();
});

Deno.test("a released watch no longer reports the client leaving", () => {
  const s = setup();
  let gone = 0;
  const watch = watchClient(s.request, 0, s, () => gone++);
  s.fireDue();
  watch.release();
  s.client.abort();
  assert.equal(gone, 0);
});
