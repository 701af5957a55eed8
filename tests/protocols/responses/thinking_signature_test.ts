import assert from "node:assert/strict";
import { translationFor } from "../../../src/protocols/registry.ts";
import { testContext } from "../responses_golden.ts";

type Json = Record<string, unknown>;
const viaMessages = translationFor("responses", "messages")!;

Deno.test("an Anthropic thinking signature survives a Responses round trip (whole answer)", () => {
  const ctx = testContext();
  viaMessages.request({ model: "m", input: "hi" }, ctx);
  const response = viaMessages.response({
    id: "msg_1",
    type: "message",
    role: "assistant",
    content: [
      { type: "thinking", thinking: "Let me see.", signature: "SIG123" },
      { type: "tool_use", id: "toolu_1", name: "ls", input: {} },
    ],
    stop_reason: "tool_use",
    usage: { input_tokens: 3, output_tokens: 4 },
  }, ctx) as { output: Json[] };
  const reasoning = response.output.find((i) => i.type === "reasoning")!;
  assert.equal(reasoning.encrypted_content, "SIG123");
  assert.deepEqual(reasoning.summary, [{ type: "summary_text", text: "Let me see." }]);

  const next = viaMessages.request({
    model: "m",
    tools: [{ type: "function", name: "ls", parameters: { type: "object" } }],
    input: [
      { role: "user", content: "hi" },
      ...response.output,
      { type: "function_call_output", call_id: "toolu_1", output: "a.txt" },
    ],
  }, testContext()) as { messages: { role: string; content: Json[] }[] };
  const assistant = next.messages.find((m) => m.role === "assistant")!;
  assert.deepEqual(assistant.content[0], {
    type: "thinking",
    thinking: "Let me see.",
    signature: "SIG123",
  });
  assert.equal(assistant.content[1].type, "tool_use");
});

Deno.test("a streamed thinking block's signature_delta reaches the reasoning item's encrypted_content", () => {
  const ctx = testContext();
  viaMessages.request({ model: "m", input: "hi", stream: true }, ctx);
  const stream = viaMessages.stream(ctx);
  const events: Json[] = [
    { type: "message_start", message: { id: "m", usage: { input_tokens: 1, output_tokens: 0 } } },
    { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "" } },
    { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "Hm." } },
    { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "S1" } },
    { type: "content_block_stop", index: 0 },
    { type: "content_block_start", index: 1, content_block: { type: "text", text: "" } },
    { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: "Ok" } },
    { type: "content_block_stop", index: 1 },
    { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 2 } },
    { type: "message_stop" },
  ];
  const out = events.flatMap((e) =>
    stream.push({ event: String(e.type), data: JSON.stringify(e) })
  );
  const done = out.map((e) => JSON.parse(e.data)).filter((d) =>
    d.type === "response.output_item.done" && d.item.type === "reasoning"
  );
  assert.equal(done.length, 1);
  assert.equal(done[0].item.encrypted_content, "S1");
  const types = out.map((e) => e.event);
  assert.ok(types.includes("response.reasoning_summary_text.delta"));
  assert.equal(types.at(-1), "response.completed");
});
