import assert from "node:assert/strict";
import { responsesViaChat } from "../../src/protocols/responses/via_chat.ts";
import { TranslationError } from "../../src/protocols/translation.ts";
import { testContext } from "./responses_golden.ts";

type Body = Record<string, unknown>;
const toChat = (body: Body) => responsesViaChat.request({ model: "m", ...body }, testContext());

function refused(body: Body, param: string, message: RegExp): void {
  assert.throws(
    () => toChat(body),
    (e: unknown) => e instanceof TranslationError && e.param === param && message.test(e.message),
  );
}

Deno.test("previous_response_id is refused: nothing is stored, send the whole conversation", () => {
  refused(
    { input: "hi", previous_response_id: "resp_123" },
    "previous_response_id",
    /Chat Completions.*no stored responses.*whole conversation in `input`/,
  );
});

Deno.test("store: true is refused, store: false and an absent store are accepted", () => {
  refused({ input: "hi", store: true }, "store", /send `store: false`/);
  assert.deepEqual(toChat({ input: "hi", store: false }).messages, [{
    role: "user",
    content: "hi",
  }]);
  assert.deepEqual(toChat({ input: "hi" }).messages, [{ role: "user", content: "hi" }]);
});

Deno.test("conversation, stored prompts and background mode are refused with what to do", () => {
  refused({ input: "hi", conversation: "conv_1" }, "conversation", /whole conversation/);
  refused({ input: "hi", prompt: { id: "pmpt_1" } }, "prompt", /instructions/);
  refused({ input: "hi", background: true }, "background", /without `background`/);
});

Deno.test("unknown fields and item types are dropped, never refused", () => {
  const chat = toChat({
    input: [
      { type: "item_reference", id: "msg_1" },
      { type: "local_shell_call", call_id: "c", action: { type: "exec", command: ["ls"] } },
      { type: "brand_new_item", x: 1 },
      { role: "user", content: "hi" },
    ],
    include: ["reasoning.encrypted_content"],
    metadata: { a: "b" },
    some_future_field: { deep: true },
  });
  assert.deepEqual(chat, { model: "qwen3-coder:30b", messages: [{ role: "user", content: "hi" }] });
});

Deno.test("input_image by file_id cannot be expressed in Chat Completions: 400 naming input", () => {
  refused(
    { input: [{ role: "user", content: [{ type: "input_image", file_id: "file-1" }] }] },
    "input",
    /file_id.*data: URL/,
  );
});

Deno.test("a tool result holding images is text for the tool message, images in a user message after", () => {
  const chat = toChat({
    input: [
      { type: "function_call", call_id: "c1", name: "view", arguments: "{}" },
      {
        type: "function_call_output",
        call_id: "c1",
        output: [
          { type: "input_text", text: "the screenshot" },
          { type: "input_image", image_url: "data:image/png;base64,AAAA" },
        ],
      },
      { role: "user", content: "what is on it?" },
    ],
  });
  assert.deepEqual(chat.messages, [
    {
      role: "assistant",
      content: null,
      tool_calls: [{ id: "c1", type: "function", function: { name: "view", arguments: "{}" } }],
    },
    { role: "tool", tool_call_id: "c1", content: "the screenshot" },
    {
      role: "user",
      content: [{ type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }],
    },
    { role: "user", content: "what is on it?" },
  ]);
});

Deno.test("tool_choice: function and custom names map to the chat function; hosted tools are not offered", () => {
  const tools = [
    { type: "function", name: "f", parameters: { type: "object", properties: {} } },
    { type: "custom", name: "apply_patch" },
    { type: "web_search" },
  ];
  assert.deepEqual(
    toChat({ input: "x", tools, tool_choice: { type: "custom", name: "apply_patch" } }).tool_choice,
    {
      type: "function",
      function: { name: "apply_patch" },
    },
  );
  const hosted = toChat({ input: "x", tools, tool_choice: { type: "web_search" } });
  assert.equal(hosted.tool_choice, undefined);
  assert.deepEqual((hosted.tools as Body[]).map((t) => (t.function as Body).name), [
    "f",
    "apply_patch",
  ]);
  // Only hosted tools: nothing to offer, so no tools, tool_choice or parallel_tool_calls at all.
  const none = toChat({
    input: "x",
    tools: [{ type: "web_search" }],
    tool_choice: "required",
    parallel_tool_calls: false,
  });
  assert.deepEqual(Object.keys(none), ["model", "messages"]);
});

Deno.test("tool_choice allowed_tools narrows the offered tools and keeps its mode", () => {
  const chat = toChat({
    input: "x",
    tools: [
      { type: "function", name: "a" },
      { type: "function", name: "b" },
    ],
    tool_choice: {
      type: "allowed_tools",
      mode: "required",
      tools: [{ type: "function", name: "b" }],
    },
  });
  assert.deepEqual(chat.tools, [{ type: "function", function: { name: "b" } }]);
  assert.equal(chat.tool_choice, "required");
});

Deno.test("text.format json_object becomes response_format json_object; text is the default", () => {
  assert.deepEqual(
    toChat({ input: "x", text: { format: { type: "json_object" } } }).response_format,
    {
      type: "json_object",
    },
  );
  assert.equal(
    toChat({ input: "x", text: { format: { type: "text" } } }).response_format,
    undefined,
  );
});

Deno.test("developer messages become system and join the leading system message", () => {
  const chat = toChat({
    instructions: "Be brief.",
    input: [
      { role: "developer", content: "Use metric units." },
      { role: "user", content: "How far?" },
      { role: "developer", content: [{ type: "input_text", text: "Answer in km." }] },
    ],
  });
  assert.deepEqual(chat.messages, [
    { role: "system", content: "Be brief.\n\nUse metric units." },
    { role: "user", content: "How far?" },
    { role: "system", content: "Answer in km." },
  ]);
});

Deno.test("a streamed request asks for usage; a whole one does not", () => {
  assert.deepEqual(toChat({ input: "x", stream: true }).stream_options, { include_usage: true });
  assert.equal(toChat({ input: "x", stream: false }).stream, undefined);
});

Deno.test("the answer is translated with the facts its own request left: custom tool calls come back as custom_tool_call", () => {
  const tools = [{ type: "custom", name: "apply_patch" }];
  const answer = {
    choices: [{
      index: 0,
      message: {
        role: "assistant",
        content: null,
        tool_calls: [{
          id: "c1",
          type: "function",
          function: { name: "apply_patch", arguments: '{"input":"*** Begin Patch"}' },
        }],
      },
      finish_reason: "tool_calls",
    }],
  };
  const ctx = testContext();
  responsesViaChat.request({ model: "m", input: "x", tools }, ctx);
  const output = (responsesViaChat.response(answer, ctx) as { output: Body[] }).output;
  assert.deepEqual(output.map((o) => [o.type, o.input]), [["custom_tool_call", "*** Begin Patch"]]);
  // Another request's context knows no custom tools: the call is an ordinary function call.
  const other = (responsesViaChat.response(answer, testContext()) as { output: Body[] }).output;
  assert.deepEqual(other.map((o) => o.type), ["function_call"]);
});
