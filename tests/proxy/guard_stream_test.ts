import assert from "node:assert/strict";
import { type BodyOutcome, guardSse, type StreamCodec } from "../../src/proxy/guard_stream.ts";
import { createDeadlines } from "../../src/proxy/deadlines.ts";
import { SsePassthrough } from "../../src/proxy/sse_passthrough.ts";

/** Bytes through untouched, whatever they are: for testing the relay alone. */
const identity: StreamCodec = {
  chunk: (b) => b,
  end: () => new Uint8Array(0),
  finished: true,
  fail: (m) => new TextEncoder().encode(m),
};

function options(
  onEnd: (outcome: BodyOutcome) => void,
  codec: StreamCodec = new SsePassthrough("chat_completions"),
) {
  return {
    upstream: new AbortController(),
    idleMs: 60_000,
    codec,
    provider: "p",
    now: () => performance.now(),
    deadlines: createDeadlines(() => performance.now()),
    onEnd,
  };
}

Deno.test("a byte-stream body is relayed whole and unchanged, pieces larger than one read too", async () => {
  const sent = new Uint8Array(150_000).map((_, i) => i % 251);
  const chunks = [sent.subarray(0, 10), sent.subarray(10, 80_000), sent.subarray(80_000)];
  const body = new ReadableStream({
    type: "bytes",
    pull(c) {
      const next = chunks.shift();
      if (next) return c.enqueue(next.slice());
      // A pending BYOB read ends only with respond(0), as Deno's own byte streams do.
      c.close();
      c.byobRequest?.respond(0);
    },
  });
  let outcome: BodyOutcome | "open" = "open";
  const relayed = new Uint8Array(
    await new Response(guardSse(body, options((o) => outcome = o, identity))).arrayBuffer(),
  );
  assert.deepEqual(relayed, sent);
  assert.equal(outcome, undefined);
});

Deno.test("a default (non-byte) stream body is relayed chunk for chunk", async () => {
  const parts = ["data: a\n\n", "data: b\n\n", "data: [DONE]\n\n"];
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      const next = parts.shift();
      if (next) c.enqueue(new TextEncoder().encode(next));
      else c.close();
    },
  });
  let outcome: BodyOutcome | "open" = "open";
  const text = await new Response(guardSse(body, options((o) => outcome = o))).text();
  assert.equal(text, "data: a\n\ndata: b\n\ndata: [DONE]\n\n");
  assert.equal(outcome, undefined);
});

Deno.test("a client that stops reading at the final event got its answer; one that stops before left", async () => {
  for (
    const [parts, want] of [
      [["data: a\n\n", "data: [DONE]\n\n"], undefined],
      [["data: a\n\n", "data: b\n\n"], "client_gone"],
    ] as const
  ) {
    const queue = [...parts];
    const upstream = new ReadableStream<Uint8Array>({
      pull(c) {
        const next = queue.shift();
        // The upstream keeps its connection open after the last part, as a real one may.
        if (next) c.enqueue(new TextEncoder().encode(next));
      },
    });
    let outcome: BodyOutcome | "open" = "open";
    const o = options((x) => outcome = x);
    const reader = guardSse(upstream, o).getReader();
    for (let i = 0; i < parts.length; i++) await reader.read();
    // What the openai SDK does when it reads `[DONE]`.
    await reader.cancel();
    assert.equal(outcome, want, parts.join(""));
    assert.ok(o.upstream.signal.aborted, "the upstream request is released either way");
  }
});
