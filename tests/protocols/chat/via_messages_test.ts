import assert from "node:assert/strict";
import { chatViaMessages, DEFAULT_MAX_TOKENS } from "../../../src/protocols/chat/via_messages.ts";
import { TranslationError } from "../../../src/protocols/translation.ts";
import {
  assertGolden,
  CLAUDE_CTX as CTX,
  fixture,
  fixtureObject,
  stored,
  translateEventByEvent,
  upstreamEvents,
} from "../golden.ts";

type Json = Record<string, unknown>;

const t = chatViaMessages;
const user = (content: unknown) => ({ role: "user", content });

Deno.test("chat request with tools, tool results and images becomes the exact Messages request (golden)", () => {
  assertGolden(
    t.request(fixtureObject("chat_request.json"), CTX),
    "chat_via_messages.chat_request.json",
  );
});

Deno.test("request: consecutive tool results are one user turn, merged with the user's next text", () => {
  const out = t.request(fixtureObject("chat_request.json"), CTX);
  const turns = out.messages as Json[];
  assert.deepEqual(turns.map((m) => m.role), ["user", "assistant", "user"]);
  const last = turns[2].content as Json[];
  assert.deepEqual(last.map((b) => b.type), ["tool_result", "tool_result", "text"]);
  assert.deepEqual(last.map((b) => b.tool_use_id), ["toolu_01Paris", "toolu_01Oslo", undefined]);
  assert.equal(out.system !== undefined, true);
  assert.equal(out.temperature, 1, "clamped to Anthropic's 0–1");
  assert.equal(out.max_tokens, 2000);
  assert.deepEqual(out.tool_choice, { type: "any", disable_parallel_tool_use: true });
  assert.deepEqual(out.metadata, { user_id: "user-1234" });
  for (const key of ["n", "seed", "frequency_penalty", "logit_bias", "stream_options", "user"]) {
    assert.equal(key in out, false, key);
  }
});

Deno.test("request: max_tokens defaults when absent; max_completion_tokens wins over max_tokens", () => {
  const base = { messages: [user("hi")] };
  assert.equal(t.request(base, CTX).max_tokens, DEFAULT_MAX_TOKENS);
  assert.equal(t.request({ ...base, max_tokens: 50 }, CTX).max_tokens, 50);
  assert.equal(
    t.request({ ...base, max_tokens: 50, max_completion_tokens: 70 }, CTX).max_tokens,
    70,
  );
});

Deno.test("request: tool_choice auto/none/function and parallel_tool_calls alone", () => {
  const base = {
    messages: [user("hi")],
    tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
  };
  const choice = (extra: Json) => t.request({ ...base, ...extra }, CTX).tool_choice;
  assert.deepEqual(choice({ tool_choice: "auto" }), { type: "auto" });
  assert.deepEqual(choice({ tool_choice: "none" }), { type: "none" });
  assert.deepEqual(choice({ tool_choice: { type: "function", function: { name: "f" } } }), {
    type: "tool",
    name: "f",
  });
  assert.deepEqual(choice({ parallel_tool_calls: false }), {
    type: "auto",
    disable_parallel_tool_use: true,
  });
  assert.equal(choice({}), undefined);
});

Deno.test("request: n > 1, unparseable tool arguments and audio parts are TranslationErrors", () => {
  assert.throws(
    () => t.request({ messages: [user("hi")], n: 2 }, CTX),
    (e: unknown) => e instanceof TranslationError && e.param === "n",
  );
  assert.throws(
    () =>
      t.request({
        messages: [user("hi"), {
          role: "assistant",
          content: null,
          tool_calls: [{
            id: "call_9",
            type: "function",
            function: { name: "f", arguments: "{nope" },
          }],
        }],
      }, CTX),
    (e: unknown) =>
      e instanceof TranslationError && /call_9/.test(e.message) && /\bf\b/.test(e.message),
  );
  assert.throws(
    () =>
      t.request({
        messages: [user([{ type: "input_audio", input_audio: { data: "AAAA", format: "wav" } }])],
      }, CTX),
    TranslationError,
  );
});

for (const name of ["messages_answer_tool_use", "messages_answer_max_tokens"]) {
  Deno.test(`answer ${name} becomes the exact chat.completion (golden)`, () => {
    assertGolden(t.response(fixture(`${name}.json`), CTX), `chat_via_messages.${name}.json`);
  });
}

Deno.test("answer: text joined, reasoning_content, tool_calls, usage counts cached prompt tokens", () => {
  const answer = t.response(fixture("messages_answer_tool_use.json"), CTX) as Json;
  const choice = (answer.choices as Json[])[0];
  const message = choice.message as Json;
  assert.equal(message.content, "Let me check the weather.");
  assert.equal(message.reasoning_content, "I need the weather in Paris.");
  assert.deepEqual(message.tool_calls, [{
    id: "toolu_01A09q90qw90lq917835lq9",
    type: "function",
    function: { name: "get_weather", arguments: '{"city":"Paris","unit":"c"}' },
  }]);
  assert.equal(choice.finish_reason, "tool_calls");
  assert.deepEqual(answer.usage, {
    prompt_tokens: 472 + 1024 + 2048,
    completion_tokens: 89,
    total_tokens: 472 + 1024 + 2048 + 89,
    prompt_tokens_details: { cached_tokens: 2048 },
  });
});

Deno.test("answer: stop reasons map to finish reasons", () => {
  const finish = (stop_reason: string) =>
    ((t.response({ content: [], stop_reason }, CTX) as Json).choices as Json[])[0].finish_reason;
  assert.equal(finish("end_turn"), "stop");
  assert.equal(finish("stop_sequence"), "stop");
  assert.equal(finish("max_tokens"), "length");
  assert.equal(finish("tool_use"), "tool_calls");
  assert.equal(finish("refusal"), "content_filter");
});

for (const name of ["messages_stream_tool_use", "messages_stream_error"]) {
  Deno.test(`stream ${name} becomes the exact chunks, each at once (golden)`, () => {
    const translator = t.stream(CTX);
    const out = translateEventByEvent(translator, upstreamEvents(`${name}.json`));
    assertGolden(out, `chat_via_messages.${name}.json`);
    assert.equal(translator.finished, true);
  });
}

Deno.test("stream: ping is never content; message_stop is [DONE] and the end", () => {
  const translator = t.stream(CTX);
  const events = upstreamEvents("messages_stream_tool_use.json");
  const outputs = events.map((e) => translator.push(e).map(stored));
  events.forEach((e, i) => {
    if (e.event === "ping") assert.deepEqual(outputs[i], []);
  });
  assert.deepEqual(outputs.at(-1), [{ data: "[DONE]" }]);
  const deltaOut = outputs.at(-2)!;
  assert.equal(deltaOut.length, 2);
  const usage = (deltaOut[1].data as Json).usage;
  assert.deepEqual(usage, {
    prompt_tokens: 2520,
    completion_tokens: 89,
    total_tokens: 2609,
    prompt_tokens_details: { cached_tokens: 2048 },
  });
  assert.deepEqual(translator.end(), []);
});

Deno.test("stream: not finished before message_stop; fail() is the OpenAI error event", () => {
  const translator = t.stream(CTX);
  for (const e of upstreamEvents("messages_stream_tool_use.json").slice(0, 8)) translator.push(e);
  assert.equal(translator.finished, false);
  assert.deepEqual(translator.fail("upstream closed mid-answer").map(stored), [{
    data: {
      error: {
        message: "upstream closed mid-answer",
        type: "upstream_error",
        code: "stream_interrupted",
        param: null,
      },
    },
  }]);
});

Deno.test("error: Anthropic envelope → OpenAI envelope; other bodies by status", () => {
  assert.deepEqual(
    t.error(400, {
      type: "error",
      error: { type: "invalid_request_error", message: "max_tokens: Field required" },
      request_id: "req_011",
    }),
    {
      error: {
        message: "max_tokens: Field required",
        type: "invalid_request_error",
        code: "invalid_request_error",
        param: null,
      },
    },
  );
  assert.deepEqual(
    t.error(529, { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }),
    {
      error: { message: "Overloaded", type: "server_error", code: "overloaded_error", param: null },
    },
  );
  assert.deepEqual(t.error(502, "Bad Gateway"), {
    error: { message: "Bad Gateway", type: "server_error", code: null, param: null },
  });
  assert.deepEqual(t.error(429, ""), {
    error: {
      message: "the upstream answered 429 without saying why",
      type: "rate_limit_error",
      code: null,
      param: null,
    },
  });
});
