import assert from "node:assert/strict";
import { EventTooLargeError, SseTranslator } from "../../src/proxy/sse_translate.ts";
import { translationFor } from "../../src/protocols/registry.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A chat → messages stream translator capped at `maxEventBytes`. */
function translator(maxEventBytes?: number) {
  const stream = translationFor("messages", "chat_completions")!.stream({
    requestedModel: "m",
    upstreamModel: "m",
    requestId: "r",
    nowSecs: 0,
  });
  return new SseTranslator(stream, maxEventBytes);
}

const delta = (text: string) =>
  `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: text } }] })}\n\n`;

Deno.test("events under the cap are translated as they come", () => {
  const t = translator(1024);
  const out = dec.decode(t.chunk(enc.encode(delta("x".repeat(500)))));
  assert.match(out, /event: content_block_delta/);
});

Deno.test("a line past the cap, across many chunks, throws EventTooLargeError naming the key", () => {
  const t = translator(10_000);
  t.chunk(enc.encode(delta("ok")));
  assert.throws(() => {
    t.chunk(enc.encode('data: {"choices":[{"delta":{"content":"'));
    for (let i = 0; i < 10; i++) t.chunk(enc.encode("z".repeat(4096)));
  }, (e: unknown) => e instanceof EventTooLargeError && /upstream\.max_event_mb/.test(e.message));
  // Once refused, the stream stays refused; its end is the client's error event.
  assert.throws(() => t.chunk(enc.encode("\n\n")), EventTooLargeError);
  assert.match(dec.decode(t.end()), /event: error/);
});

Deno.test("an event of many short data lines counts as one against the cap", () => {
  const t = translator(10_000);
  assert.throws(() => {
    for (let i = 0; i < 100; i++) t.chunk(enc.encode(`data: ${"w".repeat(200)}\n`));
  }, EventTooLargeError);
});

Deno.test("without a cap given, the default 16 MiB holds a 1 MiB event", () => {
  const t = translator();
  const out = dec.decode(t.chunk(enc.encode(delta("v".repeat(1024 * 1024)))));
  assert.match(out, /content_block_delta/);
});
