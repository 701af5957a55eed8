import assert from "node:assert/strict";
import { messagesViaChat } from "../../../src/protocols/messages/via_chat.ts";
import { TranslationError } from "../../../src/protocols/translation.ts";
import {
  assertGolden,
  CTX,
  fixture,
  fixtureObject,
  stored,
  translateEventByEvent,
  upstreamEvents,
} from "../golden.ts";

type Json = Record<string, unknown>;

const t = messagesViaChat;

Deno.test("Claude Code request becomes the exact chat request (golden)", () => {
  const out = t.request(fixtureObject("claude_code_request.json"), CTX);
  assertGolden(out, "messages_via_chat.claude_code_request.json");
});

Deno.test("options request: tool_choice, stop, sampling, output format, dropped fields (golden)", () => {
  const out = t.request(fixtureObject("messages_request_options.json"), CTX);
  assertGolden(out, "messages_via_chat.messages_request_options.json");
});

Deno.test("request: tool results come right after the assistant turn, before the user's text", () => {
  const out = t.request(fixtureObject("claude_code_request.json"), CTX);
  const messages = out.messages as Json[];
  assert.deepEqual(messages.map((m) => m.role), [
    "system",
    "user",
    "assistant",
    "tool",
    "tool",
    "user",
  ]);
  assert.equal(messages[3].tool_call_id, "toolu_01A09q90qw90lq917835lq9");
  assert.equal(messages[4].tool_call_id, "toolu_01B7xk2m4n6p8r0t2v4x6z8");
  const calls = messages[2].tool_calls as Json[];
  assert.deepEqual(
    calls.map((c) => JSON.parse((c.function as Json).arguments as string)),
    [
      { file_path: "/home/ada/project/.github/workflows/ci.yml" },
      { command: "deno task ok", description: "Run the checks" },
    ],
  );
  // thinking and redacted_thinking are gone; the assistant's text stays.
  assert.equal(messages[2].content, "Let me look at the CI configuration.");
  assert.equal(JSON.stringify(out).includes("signature"), false);
});

Deno.test("request: server tools, metadata, thinking, top_k and unknown fields are dropped", () => {
  const out = t.request(fixtureObject("claude_code_request.json"), CTX);
  const names = (out.tools as Json[]).map((tool) => (tool.function as Json).name);
  assert.deepEqual(names, ["Bash", "Glob", "Grep", "Read", "Edit", "Write", "TodoWrite"]);
  for (const key of ["metadata", "thinking", "top_k", "context_management", "output_config"]) {
    assert.equal(key in out, false, key);
  }
  assert.equal(out.model, CTX.upstreamModel);
  assert.deepEqual(out.stream_options, { include_usage: true });
  assert.equal(JSON.stringify(out).includes("cache_control"), false);
});

Deno.test("request: tool_choice any/auto/none map to required/auto/none", () => {
  const base = {
    messages: [{ role: "user", content: "hi" }],
    max_tokens: 10,
    tools: [{ name: "f", input_schema: { type: "object" } }],
  };
  const choice = (c: Json) => t.request({ ...base, tool_choice: c }, CTX).tool_choice;
  assert.equal(choice({ type: "any" }), "required");
  assert.equal(choice({ type: "auto" }), "auto");
  assert.equal(choice({ type: "none" }), "none");
  // Without any function tool left, no tool_choice is sent (servers reject it alone).
  const serverOnly = t.request({
    ...base,
    tools: [{ type: "web_search_20250305", name: "web_search" }],
    tool_choice: { type: "any" },
  }, CTX);
  assert.equal("tools" in serverOnly, false);
  assert.equal("tool_choice" in serverOnly, false);
});

Deno.test("request: a body without messages is a TranslationError", () => {
  assert.throws(() => t.request({ max_tokens: 1 }, CTX), TranslationError);
});

for (
  const name of ["chat_answer_reasoning", "chat_answer_tool_calls", "chat_answer_ollama_length"]
) {
  Deno.test(`answer ${name} becomes the exact Messages answer (golden)`, () => {
    assertGolden(t.response(fixture(`${name}.json`), CTX), `messages_via_chat.${name}.json`);
  });
}

Deno.test("answer: reasoning → thinking, tool calls → tool_use with parsed input, usage split", () => {
  const reasoning = t.response(fixture("chat_answer_reasoning.json"), CTX) as Json;
  assert.deepEqual((reasoning.content as Json[]).map((b) => b.type), ["thinking", "text"]);
  assert.equal(reasoning.stop_reason, "end_turn");
  assert.deepEqual(reasoning.usage, {
    input_tokens: 512,
    output_tokens: 37,
    cache_read_input_tokens: 1536,
  });
  const tools = t.response(fixture("chat_answer_tool_calls.json"), CTX) as Json;
  assert.equal(tools.stop_reason, "tool_use");
  assert.deepEqual((tools.content as Json[])[0].input, {
    command: "deno fmt",
    description: "Format the code",
  });
  const cut = t.response(fixture("chat_answer_ollama_length.json"), CTX) as Json;
  assert.equal(cut.stop_reason, "max_tokens");
  assert.equal((cut.content as Json[])[0].thinking, "Short thought.");
});

Deno.test("answer: content_filter → refusal; malformed tool arguments → {}", () => {
  const answer = t.response({
    choices: [{
      message: {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{oops" } }],
      },
      finish_reason: "content_filter",
    }],
  }, CTX) as Json;
  assert.equal(answer.stop_reason, "refusal");
  assert.deepEqual((answer.content as Json[])[0].input, {});
});

for (
  const name of [
    "chat_stream_openai_tools",
    "chat_stream_ollama_reasoning",
    "chat_stream_llamacpp_no_usage_chunk",
    "chat_stream_error",
  ]
) {
  Deno.test(`stream ${name} becomes the exact Messages events, each at once (golden)`, () => {
    const translator = t.stream(CTX);
    const out = translateEventByEvent(translator, upstreamEvents(`${name}.json`));
    assertGolden(out, `messages_via_chat.${name}.json`);
    assert.equal(translator.finished, true);
    assert.deepEqual(translator.end(), []);
  });
}

Deno.test("stream: message_delta waits for the usage chunk that follows the finish chunk", () => {
  const events = upstreamEvents("chat_stream_openai_tools.json");
  const translator = t.stream(CTX);
  const outputs = events.map((e) => translator.push(e).map(stored));
  const finishAt = events.length - 3;
  assert.deepEqual(outputs[finishAt].map((e) => e.event), ["content_block_stop"]);
  assert.deepEqual(outputs[finishAt + 1].map((e) => e.event), ["message_delta", "message_stop"]);
  assert.deepEqual(outputs[finishAt + 2], []);
  const delta = outputs[finishAt + 1][0].data as Json;
  assert.deepEqual(delta.delta, { stop_reason: "tool_use", stop_sequence: null });
  assert.deepEqual(delta.usage, {
    input_tokens: 176,
    output_tokens: 58,
    cache_read_input_tokens: 2944,
  });
});

Deno.test("stream: [DONE] closes a stream that never sent a usage chunk", () => {
  const translator = t.stream(CTX);
  translator.push({ data: JSON.stringify({ choices: [{ index: 0, delta: { content: "x" } }] }) });
  assert.deepEqual(
    translator.push({
      data: JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }),
    })
      .map((e) => e.event),
    ["content_block_stop"],
  );
  assert.equal(translator.finished, false);
  const last = translator.push({ data: "[DONE]" }).map(stored);
  assert.deepEqual(last.map((e) => e.event), ["message_delta", "message_stop"]);
  assert.deepEqual((last[0].data as Json).usage, { input_tokens: 0, output_tokens: 0 });
  assert.equal(translator.finished, true);
});

Deno.test("stream: not finished without [DONE]; fail() is Anthropic's error event", () => {
  const translator = t.stream(CTX);
  const first = translator.push({
    data: JSON.stringify({ choices: [{ index: 0, delta: { role: "assistant", content: "Hi" } }] }),
  });
  assert.deepEqual(first.map((e) => e.event), [
    "message_start",
    "content_block_start",
    "content_block_delta",
  ]);
  assert.equal(translator.finished, false);
  const fail = translator.fail("upstream stalled for 120 s");
  assert.deepEqual(fail.map(stored), [{
    event: "error",
    data: { type: "error", error: { type: "api_error", message: "upstream stalled for 120 s" } },
  }]);
});

Deno.test("error: status → Anthropic type, message from any upstream body shape", () => {
  const cases: Array<[number, unknown, string, string]> = [
    [
      400,
      { error: { message: "bad 'messages'", type: "invalid_request_error" } },
      "invalid_request_error",
      "bad 'messages'",
    ],
    [401, { error: "Unauthorized" }, "authentication_error", "Unauthorized"],
    [403, { error: { message: "no" } }, "permission_error", "no"],
    [404, "404 page not found", "not_found_error", "404 page not found"],
    [413, { detail: "too large" }, "request_too_large", "too large"],
    [
      422,
      { detail: [{ msg: "field required" }, { msg: "bad value" }] },
      "api_error",
      "field required; bad value",
    ],
    [
      429,
      { error: { message: "slow down", type: "rate_limit_error" } },
      "rate_limit_error",
      "slow down",
    ],
    [500, "", "api_error", "the upstream answered 500 without saying why"],
    [529, { error: { message: "Overloaded" } }, "overloaded_error", "Overloaded"],
    [503, "<html>Service Unavailable</html>", "api_error", "Service Unavailable"],
  ];
  for (const [status, body, type, message] of cases) {
    assert.deepEqual(
      t.error(status, body),
      { type: "error", error: { type, message } },
      `${status}`,
    );
  }
});
