/**
 * The translations against the fake servers' real bytes: an upstream stream parsed as the proxy
 * will parse it (eventsource-parser), each event translated, and the result read by the client's
 * official SDK.
 */

import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { createParser } from "eventsource-parser";
import { chatViaMessages } from "../../src/protocols/chat/via_messages.ts";
import { messagesViaChat } from "../../src/protocols/messages/via_chat.ts";
import type { SseEvent, Translation } from "../../src/protocols/translation.ts";
import { startFakeAnthropic } from "../fakes/anthropic.ts";
import { startFake } from "../fakes/upstream.ts";
import { CLAUDE_CTX, CTX } from "./golden.ts";
import { sseFetch } from "./sdk_fetch.ts";

/** Sends the translated request upstream and translates every event of the streamed answer. */
async function translateStream(
  translation: Translation,
  url: string,
  headers: Record<string, string>,
  request: Record<string, unknown>,
  ctx: typeof CTX,
): Promise<{ upstreamBody: Record<string, unknown>; events: SseEvent[] }> {
  const upstreamBody = translation.request(request, ctx);
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(upstreamBody),
  });
  assert.equal(response.status, 200);
  const translator = translation.stream(ctx);
  const events: SseEvent[] = [];
  const parser = createParser({
    onEvent: (e) => events.push(...translator.push({ event: e.event, data: e.data })),
  });
  const decoder = new TextDecoder();
  for await (const bytes of response.body!) parser.feed(decoder.decode(bytes, { stream: true }));
  assert.equal(translator.finished, true);
  events.push(...translator.end());
  return { upstreamBody, events };
}

Deno.test("Claude Code → Ollama: a streamed tool call reaches the Anthropic SDK whole", async () => {
  const fake = await startFake({
    kind: "ollama",
    models: ["qwen2.5-coder:7b"],
    toolCalls: [{
      name: "Bash",
      arguments: { command: "deno task ok", description: "Run checks" },
    }],
  });
  try {
    const { upstreamBody, events } = await translateStream(
      messagesViaChat,
      `${fake.apiBase}/chat/completions`,
      {},
      {
        model: CTX.requestedModel,
        max_tokens: 1024,
        stream: true,
        tools: [{ name: "Bash", input_schema: { type: "object", properties: {} } }],
        messages: [{ role: "user", content: "run the checks" }],
      },
      CTX,
    );
    assert.deepEqual(fake.requests.at(-1)?.body, upstreamBody);
    const client = new Anthropic({
      apiKey: "x",
      baseURL: "http://bitrouter.test",
      fetch: sseFetch(events),
    });
    const message = await client.messages
      .stream({ model: CTX.requestedModel, max_tokens: 1, messages: [] })
      .finalMessage();
    assert.equal(message.stop_reason, "tool_use");
    const tool = message.content.find((b) => b.type === "tool_use");
    assert.deepEqual(tool?.type === "tool_use" && [tool.id, tool.name, tool.input], [
      "call_ollama_0",
      "Bash",
      { command: "deno task ok", description: "Run checks" },
    ]);
    assert.equal(message.usage.input_tokens, 12);
  } finally {
    await fake.close();
  }
});

Deno.test("OpenAI client → Anthropic: a streamed tool call reaches the openai SDK whole", async () => {
  const input = { city: "Paris", unit: "c" };
  const fake = await startFakeAnthropic({
    answer: { type: "tool_use", name: "get_weather", input, text: "Checking.", chunks: 4 },
  });
  try {
    const { upstreamBody, events } = await translateStream(
      chatViaMessages,
      `${fake.apiBase}/messages`,
      { "x-api-key": fake.apiKey, "anthropic-version": "2023-06-01" },
      {
        model: CLAUDE_CTX.requestedModel,
        stream: true,
        tools: [{
          type: "function",
          function: { name: "get_weather", parameters: { type: "object" } },
        }],
        messages: [{ role: "user", content: "weather in Paris?" }],
      },
      CLAUDE_CTX,
    );
    assert.deepEqual(fake.requests.at(-1)?.body, upstreamBody);
    const client = new OpenAI({
      apiKey: "x",
      baseURL: "http://bitrouter.test/v1",
      fetch: sseFetch(events),
    });
    const completion = await client.chat.completions
      .stream({ model: CLAUDE_CTX.requestedModel, messages: [] })
      .finalChatCompletion();
    const choice = completion.choices[0];
    assert.equal(choice.finish_reason, "tool_calls");
    assert.equal(choice.message.content, "Checking.");
    const [call] = choice.message.tool_calls ?? [];
    assert.deepEqual(call.type === "function" && JSON.parse(call.function.arguments), input);
    assert.equal(completion.usage?.prompt_tokens, 25);
  } finally {
    await fake.close();
  }
});
