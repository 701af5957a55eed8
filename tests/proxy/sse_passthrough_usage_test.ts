import assert from "node:assert/strict";
import { SsePassthrough } from "../../src/proxy/sse_passthrough.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function run(codec: SsePassthrough, chunks: string[]): string {
  return chunks.map((c) => dec.decode(codec.chunk(enc.encode(c)))).join("") +
    dec.decode(codec.end());
}

const USAGE_CHUNK =
  'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}\n\n';

Deno.test("a usage-only chunk arriving on its own is dropped, and its usage kept", () => {
  const codec = new SsePassthrough("chat_completions", { dropUsageChunk: true });
  const out = run(codec, [
    'data: {"id":"c","choices":[{"index":0,"delta":{"content":"[]"}}]}\n\n',
    USAGE_CHUNK,
    "data: [DONE]\n\n",
  ]);
  assert.equal(
    out,
    'data: {"id":"c","choices":[{"index":0,"delta":{"content":"[]"}}]}\n\ndata: [DONE]\n\n',
  );
  assert.equal(codec.finished, true);
  assert.deepEqual(codec.usage(), {
    input: 9,
    output: 3,
    cachedInput: null,
    cacheWrite: null,
    reasoning: null,
  });
});

Deno.test("a usage-only chunk with spaces (Python servers) inside one network chunk with others is cut out", () => {
  const codec = new SsePassthrough("chat_completions", { dropUsageChunk: true });
  const out = run(codec, [
    'data: {"choices": [{"delta": {"content": "x"}}]}\n\n' +
    'data: {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 1}}\n\ndata: [DONE]\n\n',
  ]);
  assert.equal(out, 'data: {"choices": [{"delta": {"content": "x"}}]}\n\ndata: [DONE]\n\n');
  assert.equal(codec.usage()?.input, 4);
});

Deno.test("without dropUsageChunk the stream passes unchanged and usage is read from its end", () => {
  const codec = new SsePassthrough("chat_completions");
  const chunks = [
    'data: {"choices":[{"delta":{"content":"x"}}]}\n\n',
    USAGE_CHUNK,
    "data: [DONE]\n\n",
  ];
  assert.equal(run(codec, chunks), chunks.join(""));
  assert.equal(codec.usage()?.output, 3);
});

Deno.test("a Responses stream whose response.completed runs past 2 KiB still yields its usage", () => {
  const codec = new SsePassthrough("responses");
  const long = "y".repeat(6000);
  run(codec, [
    `event: response.completed\ndata: {"type":"response.completed","response":{"output":[{"type":"message","content":[{"type":"output_text","text":"${long}"}]}],"usage":{"input_tokens":50,"output_tokens":1500,"output_tokens_details":{"reasoning_tokens":700}},"metadata":{"note":"${
      "z".repeat(3000)
    }"}}}\n\n`,
  ]);
  assert.deepEqual(codec.usage(), {
    input: 50,
    output: 1500,
    cachedInput: null,
    cacheWrite: null,
    reasoning: 700,
  });
});

Deno.test("a Messages stream takes input counts from message_start and output from message_delta", () => {
  const codec = new SsePassthrough("messages");
  run(codec, [
    'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":5,"cache_read_input_tokens":100,"output_tokens":1}}}\n\n',
    ...Array.from(
      { length: 40 },
      () =>
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"' +
        "w".repeat(500) + '"}}\n\n',
    ),
    'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":77}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n',
  ]);
  assert.deepEqual(codec.usage(), {
    input: 105,
    output: 77,
    cachedInput: 100,
    cacheWrite: null,
    reasoning: null,
  });
});

Deno.test("a stream that reports no usage has none (unknown, not 0)", () => {
  const codec = new SsePassthrough("chat_completions", { dropUsageChunk: true });
  run(codec, ['data: {"choices":[{"delta":{"content":"x"}}]}\n\n', "data: [DONE]\n\n"]);
  assert.equal(codec.usage(), undefined);
});
