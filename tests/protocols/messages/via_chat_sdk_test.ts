import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { messagesViaChat } from "../../../src/protocols/messages/via_chat.ts";
import type { SseEvent } from "../../../src/protocols/translation.ts";
import { CTX, fixture, upstreamEvents } from "../golden.ts";
import { jsonFetch, sseFetch } from "../sdk_fetch.ts";

function translated(name: string): SseEvent[] {
  const translator = messagesViaChat.stream(CTX);
  return upstreamEvents(name).flatMap((e) => translator.push(e));
}

function client(fetch: typeof globalThis.fetch): Anthropic {
  return new Anthropic({
    apiKey: "unused",
    baseURL: "http://bitrouter.test",
    fetch,
    maxRetries: 0,
  });
}

const params = {
  model: CTX.requestedModel,
  max_tokens: 100,
  messages: [{ role: "user" as const, content: "hi" }],
};

Deno.test("@anthropic-ai/sdk assembles the translated tool-call stream into the final message", async () => {
  const stream = client(sseFetch(translated("chat_stream_openai_tools.json"))).messages.stream(
    params,
  );
  const message = await stream.finalMessage();
  assert.equal(message.id, "msg_req_01HZX3K9");
  assert.equal(message.stop_reason, "tool_use");
  assert.deepEqual(message.content.map((b) => b.type), ["text", "tool_use", "tool_use"]);
  const [text, bash, read] = message.content;
  assert.equal(text.type === "text" && text.text, "Formatting now.");
  assert.deepEqual(bash.type === "tool_use" && bash.input, { command: "deno fmt" });
  assert.deepEqual(read.type === "tool_use" && read.input, { file_path: "/tmp/a.ts" });
  assert.equal(message.usage.output_tokens, 58);
  assert.equal(message.usage.input_tokens, 176);
  assert.equal(message.usage.cache_read_input_tokens, 2944);
});

Deno.test("@anthropic-ai/sdk assembles thinking and text from an Ollama reasoning stream", async () => {
  const stream = client(sseFetch(translated("chat_stream_ollama_reasoning.json"))).messages.stream(
    params,
  );
  const message = await stream.finalMessage();
  assert.deepEqual(message.content.map((b) => b.type), ["thinking", "text"]);
  const [thinking, text] = message.content;
  assert.equal(thinking.type === "thinking" && thinking.thinking, "The user asks why.");
  assert.equal(text.type === "text" && text.text, "One file is unformatted.");
  assert.equal(message.stop_reason, "end_turn");
});

Deno.test("@anthropic-ai/sdk raises on fail() after a partial answer", async () => {
  const translator = messagesViaChat.stream(CTX);
  const events = upstreamEvents("chat_stream_openai_tools.json").slice(0, 4).flatMap((e) =>
    translator.push(e)
  );
  events.push(...translator.fail("upstream idle for 120 s"));
  const stream = await client(sseFetch(events)).messages.create({ ...params, stream: true });
  const seen: string[] = [];
  await assert.rejects(
    async () => {
      for await (const e of stream) seen.push(e.type);
    },
    (e: unknown) => e instanceof Anthropic.APIError && /upstream idle for 120 s/.test(e.message),
  );
  assert.ok(seen.includes("content_block_delta"), "the partial answer was delivered first");
});

Deno.test("@anthropic-ai/sdk raises on an upstream error event mid-stream", async () => {
  const stream = await client(sseFetch(translated("chat_stream_error.json"))).messages.create({
    ...params,
    stream: true,
  });
  await assert.rejects(async () => {
    for await (const _ of stream) { /* drain */ }
  }, /The engine died unexpectedly/);
});

Deno.test("@anthropic-ai/sdk reads the translated whole answer", async () => {
  const body = messagesViaChat.response(fixture("chat_answer_tool_calls.json"), CTX);
  const message = await client(jsonFetch(body)).messages.create(params);
  assert.equal(message.stop_reason, "tool_use");
  assert.equal(message.content.length, 2);
});

Deno.test("@anthropic-ai/sdk raises its typed error for a translated upstream error", async () => {
  const body = messagesViaChat.error(429, { error: { message: "slow down" } });
  await assert.rejects(
    client(jsonFetch(body, 429)).messages.create(params),
    (e: unknown) => e instanceof Anthropic.RateLimitError && /slow down/.test(e.message),
  );
});
