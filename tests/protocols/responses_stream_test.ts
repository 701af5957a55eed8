import assert from "node:assert/strict";
import { responsesViaChat } from "../../src/protocols/responses/via_chat.ts";
import { partialCustomToolInput } from "../../src/protocols/responses/partial_input.ts";
import type { SseEvent, StreamTranslator } from "../../src/protocols/translation.ts";
import { testContext } from "./responses_golden.ts";

type Data = Record<string, unknown> & { type: string };

function translator(
  request: Record<string, unknown> = { input: "hi", stream: true },
): StreamTranslator {
  const ctx = testContext();
  responsesViaChat.request({ model: "m", ...request }, ctx);
  return responsesViaChat.stream(ctx);
}
const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  data: JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] }),
});
const usage = {
  data: JSON.stringify({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 2 } }),
};
const types = (events: SseEvent[]) => events.map((e) => (JSON.parse(e.data) as Data).type);
const last = (events: SseEvent[]) => JSON.parse(events.at(-1)!.data) as Data;

Deno.test("stream: completion waits for the usage chunk after finish_reason, and carries its usage", () => {
  const s = translator();
  s.push(chunk({ content: "Hi" }));
  assert.deepEqual(types(s.push(chunk({}, "stop"))), [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
  ]);
  const completed = s.push(usage);
  assert.deepEqual(types(completed), ["response.completed"]);
  const response = last(completed).response as Record<string, unknown>;
  assert.deepEqual(response.usage, {
    input_tokens: 3,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 2,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 5,
  });
  assert.equal(s.finished, false, "finished only once [DONE] is seen");
  assert.deepEqual(s.push({ data: "[DONE]" }), []);
  assert.equal(s.finished, true);
});

Deno.test("stream: without a usage chunk, [DONE] completes the response (usage null)", () => {
  const s = translator();
  s.push(chunk({ content: "Hi" }, "stop"));
  const done = s.push({ data: "[DONE]" });
  assert.deepEqual(types(done), ["response.completed"]);
  assert.equal((last(done).response as Record<string, unknown>).usage, null);
});

Deno.test("stream: [DONE] with no finish_reason closes the open text and completes", () => {
  const s = translator();
  s.push(chunk({ content: "Hi" }));
  assert.deepEqual(types(s.push({ data: "[DONE]" })), [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
  ]);
});

Deno.test("stream: an empty upstream stream still tells the whole story", () => {
  assert.deepEqual(types(translator().push({ data: "[DONE]" })), [
    "response.created",
    "response.in_progress",
    "response.completed",
  ]);
});

Deno.test("stream: fail() sends response.failed then error, once; later events are ignored", () => {
  const s = translator();
  s.push(chunk({ content: "Hi" }));
  const failed = s.fail("upstream went silent");
  assert.deepEqual(types(failed), ["response.failed", "error"]);
  const response = (JSON.parse(failed[0].data) as Data).response as Record<string, unknown>;
  assert.equal(response.status, "failed");
  assert.deepEqual(response.error, { code: "server_error", message: "upstream went silent" });
  assert.deepEqual(JSON.parse(failed[1].data), {
    type: "error",
    sequence_number: 6,
    code: "server_error",
    message: "upstream went silent",
    param: null,
  });
  assert.equal(failed[1].event, "error");
  assert.deepEqual(s.fail("again"), []);
  assert.deepEqual(s.push(chunk({ content: "late" })), []);
});

Deno.test("stream: an upstream error chunk fails the response with the upstream's code", () => {
  const s = translator();
  const out = s.push({
    data: JSON.stringify({ error: { message: "too long", code: "context_length_exceeded" } }),
  });
  assert.deepEqual(types(out), [
    "response.created",
    "response.in_progress",
    "response.failed",
    "error",
  ]);
  // Codex reads response.error.code to tell a full context window from other failures.
  const response = (JSON.parse(out[2].data) as Data).response as Record<string, unknown>;
  assert.deepEqual(response.error, { code: "context_length_exceeded", message: "too long" });
});

Deno.test("stream: a tool call without an id (some local servers) gets one the client can answer", () => {
  const s = translator({ input: "x", stream: true, tools: [{ type: "function", name: "f" }] });
  const added = s.push(
    chunk({ tool_calls: [{ index: 0, function: { name: "f", arguments: "{}" } }] }),
  );
  const item =
    (JSON.parse(added.find((e) => e.event === "response.output_item.added")!.data) as Data)
      .item as Record<string, unknown>;
  assert.equal(item.call_id, "call_4b1f0e9c2d7a4c559e0b3f6a8d2c1b77_0");
});

Deno.test('stream: a custom tool whose model wrote bare text (not {"input":…}) still gets its text', () => {
  const s = translator({
    input: "x",
    stream: true,
    tools: [{ type: "custom", name: "apply_patch" }],
  });
  s.push(
    chunk({
      tool_calls: [{
        index: 0,
        id: "c",
        function: { name: "apply_patch", arguments: "*** Begin" },
      }],
    }),
  );
  const closing = s.push(
    chunk({ tool_calls: [{ index: 0, function: { arguments: " Patch" } }] }, "tool_calls"),
  );
  const events = closing.map((e) => JSON.parse(e.data) as Data);
  assert.deepEqual(events.map((e) => e.type), [
    "response.custom_tool_call_input.delta",
    "response.custom_tool_call_input.done",
    "response.output_item.done",
  ]);
  assert.equal(events[0].delta, "*** Begin Patch");
  assert.equal(events[1].input, "*** Begin Patch");
});

Deno.test("partial custom input decodes escapes and waits for ones cut by a chunk boundary", () => {
  assert.equal(partialCustomToolInput('{"inp'), undefined);
  assert.equal(partialCustomToolInput('{ "input" : "a\\'), "a");
  assert.equal(partialCustomToolInput('{"input":"a\\nb\\"c\\u00e9\\u00'), 'a\nb"cé');
  assert.equal(partialCustomToolInput('{"input":"done"}'), "done");
});
