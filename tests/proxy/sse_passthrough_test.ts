import assert from "node:assert/strict";
import { SsePassthrough } from "../../src/proxy/sse_passthrough.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function fed(protocol: ConstructorParameters<typeof SsePassthrough>[0], chunks: string[]) {
  const codec = new SsePassthrough(protocol);
  for (const c of chunks) assert.equal(dec.decode(codec.chunk(enc.encode(c))), c);
  return codec;
}

Deno.test("a stream is finished when its final event is in its last bytes, split or not", () => {
  assert.equal(fed("chat_completions", ['data: {"a":1}\n\n', "data: [DONE]\n\n"]).finished, true);
  assert.equal(fed("chat_completions", ['data: {"a":1}\n\ndata: [DO', "NE]\n\n"]).finished, true);
  assert.equal(
    fed("messages", ["event: message_delta\ndata: {}\n\nevent: message_st", "op\ndata: {}\n\n"])
      .finished,
    true,
  );
  assert.equal(fed("responses", ['data: {"type":"response.completed"}\n\n']).finished, true);
  // A long last chunk: only its own end is looked at.
  const long = "data: " + "x".repeat(2000) + "\n\ndata: [DONE]\n\n";
  assert.equal(fed("chat_completions", ["data: a\n\n", long]).finished, true);
});

Deno.test("a stream cut off before its final event ends with the client's error event", () => {
  const codec = fed("chat_completions", ['data: {"a":1}\n\n', 'data: {"b":2}\n\n']);
  assert.equal(codec.finished, false);
  const tail = dec.decode(codec.end());
  assert.match(tail, /^\n\ndata: \{"error":/);
  assert.match(tail, /cut off/);
  // The final event long before the end does not count: it is not the end of this stream.
  const late = fed("chat_completions", ["data: [DONE]\n\n", "data: " + "y".repeat(600) + "\n\n"]);
  assert.equal(late.finished, false);
});

Deno.test("finished follows the stream: asked early, it is asked again after more chunks", () => {
  const codec = new SsePassthrough("chat_completions");
  codec.chunk(enc.encode("data: a\n\n"));
  assert.equal(codec.finished, false);
  codec.chunk(new Uint8Array(0));
  assert.equal(codec.finished, false);
  codec.chunk(enc.encode("data: [DONE]\n\n"));
  assert.equal(codec.finished, true);
  assert.equal(codec.end().length, 0);
});
