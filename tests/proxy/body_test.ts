import assert from "node:assert/strict";
import {
  BodyTimeoutError,
  BodyTooLargeError,
  FAST_BODY_BYTES,
  readBodyLimited,
  replaceModel,
} from "../../src/proxy/body.ts";
import type { Deadline, Deadlines } from "../../src/proxy/deadlines.ts";

Deno.test("only the top-level model value is rewritten; every other byte is kept", () => {
  const text =
    '{"messages":[{"role":"user","content":"the \\"model\\": x","model":"inner"}],\n  "model" :  "smart", "seed": 12345678901234567890, "temperature": 1.0}';
  const out = replaceModel(text, "llama3.1:8b")!;
  assert.equal(out, text.replace('"smart"', '"llama3.1:8b"'));
  assert.equal(JSON.parse(out).model, "llama3.1:8b");
});

Deno.test("a model value with escapes is replaced whole", () => {
  const out = replaceModel('{"model":"a\\"b\\\\","x":1}', "m")!;
  assert.deepEqual(JSON.parse(out), { model: "m", x: 1 });
});

Deno.test("a duplicated or escaped model key is left to re-serialisation", () => {
  assert.equal(replaceModel('{"model":"a","model":"b"}', "m"), undefined);
  assert.equal(replaceModel('{"mod\\u0065l":"a"}', "m"), undefined);
});

Deno.test("a body over the limit is refused from its content-length without reading it", async () => {
  const req = new Request("http://x/", {
    method: "POST",
    body: "x".repeat(100),
    headers: { "content-length": "100" },
  });
  await assert.rejects(() => readBodyLimited(req, 10), BodyTooLargeError);
});

Deno.test("a chunked body is cut off as soon as it passes the limit", async () => {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      if (pulled > 1000) return c.close();
      c.enqueue(new Uint8Array(1024));
    },
  });
  const req = new Request("http://x/", { method: "POST", body });
  await assert.rejects(() => readBodyLimited(req, 4096), BodyTooLargeError);
  assert.ok(pulled < 10, `read ${pulled} chunks before refusing`);
  const ok = await readBodyLimited(new Request("http://x/", { method: "POST", body: "hello" }), 10);
  assert.equal(new TextDecoder().decode(ok), "hello");
});

/** Deadlines fired by hand: `fireAll()` runs every pending one, as if its time had come. */
function manualDeadlines() {
  const pending = new Set<Deadline>();
  const deadlines: Deadlines = {
    add(at, fire) {
      const d = { at, fire };
      pending.add(d);
      return d;
    },
    cancel(d) {
      if (d) pending.delete(d);
    },
    get size() {
      return pending.size;
    },
    clear() {
      pending.clear();
    },
  };
  const fireAll = () => {
    for (const d of [...pending]) {
      pending.delete(d);
      d.fire();
    }
  };
  return { deadlines, fireAll };
}

/** A body that sends `first` and then nothing, recording when it is cancelled. */
function stallingBody(first: Uint8Array) {
  const state = { cancelled: false, sent: false };
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (!state.sent) {
        state.sent = true;
        c.enqueue(first);
      }
      // Then never again: the pull promise stays pending like a socket with nothing to read.
      return new Promise(() => {});
    },
    cancel() {
      state.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { body, state };
}

Deno.test("a body larger than the fast path that stalls is cancelled at its deadline, leaving no read pending", async () => {
  const { deadlines, fireAll } = manualDeadlines();
  const { body, state } = stallingBody(new Uint8Array(1000));
  const req = new Request("http://x/", {
    method: "POST",
    body,
    headers: { "content-length": String(FAST_BODY_BYTES + 1) },
  });
  const reading = readBodyLimited(req, 1 << 20, { deadlines, at: 0, secs: 30 });
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(deadlines.size, 1, "no deadline was set");
  fireAll();
  await assert.rejects(reading, BodyTimeoutError);
  assert.ok(state.cancelled, "the stalled body was not cancelled");
});

Deno.test("a chunked body that stalls is cancelled at its deadline; a complete one cancels its deadline", async () => {
  const { deadlines, fireAll } = manualDeadlines();
  const { body, state } = stallingBody(new TextEncoder().encode('{"model":'));
  const reading = readBodyLimited(new Request("http://x/", { method: "POST", body }), 1 << 20, {
    deadlines,
    at: 0,
    secs: 0.5,
  });
  await new Promise((resolve) => setTimeout(resolve, 0));
  fireAll();
  await assert.rejects(reading, /did not arrive within 0\.5s \(server\.body_timeout_secs\)/);
  assert.ok(state.cancelled);

  const whole = await readBodyLimited(
    new Request("http://x/", { method: "POST", body: "hello" }),
    10,
    { deadlines, at: 0, secs: 30 },
  );
  assert.equal(new TextDecoder().decode(whole), "hello");
  assert.equal(deadlines.size, 0, "the deadline outlived the read");
});

Deno.test("a small declared body that stalls gets a BodyTimeoutError at its deadline", async () => {
  const { deadlines, fireAll } = manualDeadlines();
  const { body } = stallingBody(new Uint8Array(10));
  const req = new Request("http://x/", {
    method: "POST",
    body,
    headers: { "content-length": "100" },
  });
  const reading = readBodyLimited(req, 1 << 20, { deadlines, at: 0, secs: 30 });
  await new Promise((resolve) => setTimeout(resolve, 0));
  fireAll();
  await assert.rejects(reading, BodyTimeoutError);
  await req.body?.cancel().catch(() => {});
});
