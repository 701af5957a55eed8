import assert from "node:assert/strict";
import { chatViaResponses } from "../../../src/protocols/chat/via_responses.ts";
import { translationFor } from "../../../src/protocols/registry.ts";
import { TranslationError } from "../../../src/protocols/translation.ts";
import { testContext } from "../responses_golden.ts";

type Json = Record<string, unknown>;

Deno.test("chat → Responses request: messages become input items, tools and limits their Responses form", () => {
  const body = chatViaResponses.request({
    model: "m",
    messages: [
      { role: "system", content: "Be brief." },
      {
        role: "user",
        content: [{ type: "text", text: "look" }, {
          type: "image_url",
          image_url: { url: "data:image/png;base64,AA" },
        }],
      },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "c1", type: "function", function: { name: "ls", arguments: "{}" } }],
      },
      { role: "tool", tool_call_id: "c1", content: "a.txt" },
    ],
    tools: [{ type: "function", function: { name: "ls", parameters: { type: "object" } } }],
    tool_choice: { type: "function", function: { name: "ls" } },
    max_completion_tokens: 100,
    reasoning_effort: "low",
    response_format: {
      type: "json_schema",
      json_schema: { name: "x", schema: { type: "object" } },
    },
    stop: ["END"],
    stream: true,
  }, testContext());
  assert.equal(body.store, false);
  assert.equal(body.max_output_tokens, 100);
  assert.deepEqual(body.reasoning, { effort: "low" });
  assert.deepEqual(body.tool_choice, { type: "function", name: "ls" });
  assert.equal(body.stop, undefined);
  assert.deepEqual((body.text as Json).format, {
    type: "json_schema",
    name: "x",
    schema: { type: "object" },
  });
  assert.deepEqual((body.input as Json[]).map((i) => i.type), [
    "message",
    "message",
    "function_call",
    "function_call_output",
  ]);
  assert.deepEqual(((body.input as Json[])[1].content as Json[])[1], {
    type: "input_image",
    image_url: "data:image/png;base64,AA",
    detail: "auto",
  });
  assert.throws(
    () => chatViaResponses.request({ model: "m", messages: [], n: 2 }, testContext()),
    TranslationError,
  );
});

Deno.test("Responses answer → chat.completion: text, reasoning, tool calls, finish reason and usage", () => {
  const answer = chatViaResponses.response({
    id: "resp_1",
    status: "completed",
    output: [
      { type: "reasoning", summary: [{ type: "summary_text", text: "hmm" }] },
      { type: "function_call", call_id: "c9", name: "ls", arguments: "{}" },
    ],
    usage: { input_tokens: 5, output_tokens: 2, total_tokens: 7 },
  }, testContext()) as Json;
  const choice = (answer.choices as Json[])[0];
  assert.equal(choice.finish_reason, "tool_calls");
  assert.equal((choice.message as Json).reasoning_content, "hmm");
  assert.deepEqual(((choice.message as Json).tool_calls as Json[])[0], {
    id: "c9",
    type: "function",
    function: { name: "ls", arguments: "{}" },
  });
  assert.equal((answer.usage as Json).total_tokens, 7);
});

Deno.test("Responses stream → chat chunks, each event at once, ending with usage and [DONE]", () => {
  const stream = chatViaResponses.stream(testContext());
  const push = (data: Json) =>
    stream.push({ event: String(data.type), data: JSON.stringify(data) });
  const out = [
    ...push({ type: "response.created", response: { id: "r" } }),
    ...push({ type: "response.reasoning_summary_text.delta", item_id: "rs", delta: "th" }),
    ...push({ type: "response.reasoning_text.delta", item_id: "rs", delta: "th" }),
    ...push({ type: "response.output_text.delta", item_id: "m", delta: "Hi" }),
    ...push({
      type: "response.output_item.added",
      item: { type: "function_call", id: "fc", call_id: "c1", name: "ls" },
    }),
    ...push({ type: "response.function_call_arguments.delta", item_id: "fc", delta: "{}" }),
    ...push({
      type: "response.completed",
      response: { status: "completed", usage: { input_tokens: 1, output_tokens: 2 } },
    }),
  ];
  assert.equal(stream.finished, true);
  const data = out.map((e) => e.data);
  assert.equal(data.at(-1), "[DONE]");
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
  const deltas = chunks.flatMap((c) => c.choices.map((ch: Json) => ch.delta));
  assert.deepEqual(deltas.filter((d: Json) => d.reasoning_content).length, 1);
  assert.ok(deltas.some((d: Json) => d.content === "Hi"));
  assert.equal(chunks.at(-2).choices[0].finish_reason, "tool_calls");
  assert.equal(chunks.at(-1).usage.completion_tokens, 2);
  const failed = chatViaResponses.stream(testContext());
  const err = failed.push({
    data: JSON.stringify({
      type: "response.failed",
      response: { error: { code: "server_error", message: "boom" } },
    }),
  });
  assert.match(err.at(-1)!.data, /"error":\{"message":"boom"/);
});

Deno.test("every client protocol reaches a Responses upstream", () => {
  for (
    const client of [
      "chat_completions",
      "messages",
      "ollama_chat",
      "ollama_generate",
      "gemini",
    ] as const
  ) {
    assert.ok(translationFor(client, "responses"), client);
  }
});
