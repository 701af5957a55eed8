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

Deno.test("a previous_response_id left unresolved (another server's) is refused, naming it", () => {
  refused(
    { input: "hi", previous_response_id: "resp_123" },
    "previous_response_id",
    /"resp_123" is not a response BitRouter stored.*whole conversation in `input`/,
  );
});

Deno.test("store: true, store: false and an absent store are accepted (BitRouter does the storing)", () => {
  assert.deepEqual(toChat({ input: "hi", store: true }).messages, [{
    role: "user",
    content: "hi",
  }]);
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

const DEVELOPER_TURNS = {
  instructions: "Be brief.",
  input: [
    {
      role: "developer",
      content: [{ type: "input_text", text: "Use metric units." }, {
        type: "input_text",
        text: "Show your sums.",
      }],
    },
    { role: "user", content: "How far?" },
    { role: "developer", content: [{ type: "input_text", text: "Answer in km." }] },
  ],
};

Deno.test("one system message first: instructions and a two-part developer message join, a later one merges in", () => {
  assert.deepEqual(toChat(DEVELOPER_TURNS).messages, [
    {
      role: "system",
      content: "Be brief.\n\nUse metric units.\n\nShow your sums.\n\nAnswer in km.",
    },
    { role: "user", content: "How far?" },
  ]);
});

Deno.test("system_messages: user carries a later system message in place as a marked user turn; keep leaves it", () => {
  const ctx = (systemMessages: "user" | "keep") => ({ ...testContext(), systemMessages });
  const user = responsesViaChat.request({ model: "m", ...DEVELOPER_TURNS }, ctx("user"));
  assert.deepEqual(user.messages, [
    { role: "system", content: "Be brief.\n\nUse metric units.\n\nShow your sums." },
    { role: "user", content: "How far?" },
    { role: "user", content: "<system>\nAnswer in km.\n</system>" },
  ]);
  const keep = responsesViaChat.request({ model: "m", ...DEVELOPER_TURNS }, ctx("keep"));
  assert.deepEqual((keep.messages as unknown[]).slice(1), [
    { role: "user", content: "How far?" },
    { role: "system", content: "Answer in km." },
  ]);
});

Deno.test("namespace tools are offered flat (namespace__tool, at most 64 characters) and their calls map back", () => {
  const long = "n".repeat(40);
  const tools = [{
    type: "namespace",
    name: "multi_agent_v1",
    description: "Sub-agents.",
    tools: [
      {
        type: "function",
        name: "spawn_agent",
        description: "Start one.",
        parameters: { type: "object" },
      },
      { type: "function", name: "send_input", parameters: { type: "object" } },
    ],
  }, { type: "namespace", name: long, description: "", tools: [{ type: "function", name: long }] }];
  const ctx = testContext();
  const chat = responsesViaChat.request({
    model: "m",
    tools,
    input: [
      { role: "user", content: "go" },
      {
        type: "function_call",
        call_id: "c0",
        name: "send_input",
        namespace: "multi_agent_v1",
        arguments: "{}",
      },
      { type: "function_call_output", call_id: "c0", output: "sent" },
    ],
  }, ctx);
  const names = (chat.tools as { function: { name: string; description?: string } }[]).map((t) =>
    t.function.name
  );
  assert.equal(names[0], "multi_agent_v1__spawn_agent");
  assert.equal(names[1], "multi_agent_v1__send_input");
  assert.equal(names[2].length, 64);
  assert.match(names[2], /^n{40}__n{13}_[0-9a-f]{8}$/);
  assert.equal(
    (chat.tools as { function: { description?: string } }[])[0].function.description,
    "Sub-agents.\n\nStart one.",
  );
  const history = chat.messages as { tool_calls?: { function: { name: string } }[] }[];
  assert.equal(history[1].tool_calls![0].function.name, "multi_agent_v1__send_input");
  const answer = responsesViaChat.response({
    choices: [{
      index: 0,
      finish_reason: "tool_calls",
      message: {
        role: "assistant",
        content: null,
        tool_calls: [{
          id: "c1",
          type: "function",
          function: { name: "multi_agent_v1__spawn_agent", arguments: '{"message":"hi"}' },
        }, { id: "c2", type: "function", function: { name: names[2], arguments: "{}" } }],
      },
    }],
  }, ctx) as { output: Record<string, unknown>[] };
  assert.deepEqual(
    answer.output.map((i) => [i.type, i.namespace, i.name]),
    [["function_call", "multi_agent_v1", "spawn_agent"], ["function_call", long, long]],
  );
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
