import assert from "node:assert/strict";
import OpenAI from "openai";
import { chatViaMessages } from "../../../src/protocols/chat/via_messages.ts";
import type { SseEvent } from "../../../src/protocols/translation.ts";
import { CLAUDE_CTX as CTX, fixture, upstreamEvents } from "../golden.ts";
import { jsonFetch, sseFetch } from "../sdk_fetch.ts";

function translated(name: string): SseEvent[] {
  const translator = chatViaMessages.stream(CTX);
  return upstreamEvents(name).flatMap((e) => translator.push(e));
}

function client(fetch: typeof globalThis.fetch): OpenAI {
  return new OpenAI({
    apiKey: "unused",
    baseURL: "http://bitrouter.test/v1",
    fetch,
    maxRetries: 0,
  });
}

const params = {
  model: CTX.requestedModel,
  messages: [{ role: "user" as const, content: "weather?" }],
};

Deno.test("openai SDK assembles the translated tool-call stream into the final completion", async () => {
  const runner = client(sseFetch(translated("messages_stream_tool_use.json"))).chat.completions
    .stream({ ...params, stream_options: { include_usage: true } });
  const completion = await runner.finalChatCompletion();
  const choice = completion.choices[0];
  assert.equal(choice.finish_reason, "tool_calls");
  assert.equal(choice.message.content, "Okay, let's check the weather.");
  const calls = choice.message.tool_calls ?? [];
  assert.deepEqual(
    calls.map((c) =>
      c.type === "function" && [c.id, c.function.name, JSON.parse(c.function.arguments)]
    ),
    [
      ["toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", { city: "Paris", unit: "c" }],
      ["toolu_01Oslo", "get_weather", { city: "Oslo" }],
    ],
  );
  assert.equal(completion.usage?.prompt_tokens, 2520);
  assert.equal(completion.usage?.completion_tokens, 89);
});

Deno.test("openai SDK raises on fail() after a partial answer", async () => {
  const translator = chatViaMessages.stream(CTX);
  const events = upstreamEvents("messages_stream_tool_use.json").slice(0, 9).flatMap((e) =>
    translator.push(e)
  );
  events.push(...translator.fail("upstream closed mid-answer"));
  const stream = await client(sseFetch(events)).chat.completions.create({
    ...params,
    stream: true,
  });
  let content = "";
  await assert.rejects(
    async () => {
      for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? "";
    },
    (e: unknown) => e instanceof OpenAI.APIError && /upstream closed mid-answer/.test(e.message),
  );
  assert.equal(content, "Okay, let's check the weather.");
});

Deno.test("openai SDK raises on an upstream error event mid-stream", async () => {
  const stream = await client(sseFetch(translated("messages_stream_error.json"))).chat.completions
    .create({ ...params, stream: true });
  await assert.rejects(async () => {
    for await (const _ of stream) { /* drain */ }
  }, /Overloaded/);
});

Deno.test("openai SDK reads the translated whole answer", async () => {
  const body = chatViaMessages.response(fixture("messages_answer_tool_use.json"), CTX);
  const completion = await client(jsonFetch(body)).chat.completions.create(params);
  assert.equal(completion.choices[0].finish_reason, "tool_calls");
  assert.equal(completion.usage?.total_tokens, 3633);
});

Deno.test("openai SDK raises its typed error for a translated upstream error", async () => {
  const body = chatViaMessages.error(401, {
    type: "error",
    error: { type: "authentication_error", message: "invalid x-api-key" },
  });
  await assert.rejects(
    client(jsonFetch(body, 401)).chat.completions.create(params),
    (e: unknown) => e instanceof OpenAI.AuthenticationError && /invalid x-api-key/.test(e.message),
  );
});
