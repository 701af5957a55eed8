import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { buildRouteTable } from "../../src/routing/route_table.ts";
import { createHandler } from "../../src/proxy/handler.ts";
import { type RequestRecord, silentLogger } from "../../src/observe/log.ts";
import { observingLogger } from "../../src/observe/record.ts";
import type { Usage } from "../../src/observe/usage.ts";

/** One provider per upstream protocol, each on its own fake host. */
const CONFIG = `
server: { skip_auth: true }
upstream: { timeouts: { first_byte_secs: 2, idle_secs: 2 } }
providers:
  chat:
    api_base: http://chat.test/v1
    models: [m-chat]
  nooptions:
    api_base: http://nooptions.test/v1
    models: [m-nooptions]
    compatibility: { chat_completions: { supports_stream_options: false } }
  anth:
    api_base: http://anth.test/v1
    api_protocol: messages
    models: [m-anth]
  resp:
    api_base: http://resp.test/v1
    api_protocol: responses
    models: [m-resp]
`;

type Answer = { plain: unknown; stream: string[] };

const CHAT_USAGE = {
  prompt_tokens: 100,
  completion_tokens: 20,
  total_tokens: 120,
  prompt_tokens_details: { cached_tokens: 40 },
  completion_tokens_details: { reasoning_tokens: 5 },
};

const sse = (data: unknown, event?: string) =>
  `${event ? `event: ${event}\n` : ""}data: ${
    typeof data === "string" ? data : JSON.stringify(data)
  }\n\n`;

/** A chat server: usage on the whole answer, and as the last chunk when include_usage is asked. */
function chatAnswer(usage: unknown, includeUsage: boolean): Answer {
  const head = { id: "c1", object: "chat.completion.chunk", created: 1, model: "m" };
  const stream = [
    sse({ ...head, choices: [{ index: 0, delta: { role: "assistant", content: "Hi" } }] }),
    sse({ ...head, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }),
  ];
  if (includeUsage && usage) stream.push(sse({ ...head, choices: [], usage }) + sse("[DONE]"));
  else stream.push(sse("[DONE]"));
  return {
    plain: {
      id: "c1",
      object: "chat.completion",
      created: 1,
      model: "m",
      choices: [{ index: 0, message: { role: "assistant", content: "Hi" }, finish_reason: "stop" }],
      ...(usage ? { usage } : {}),
    },
    stream,
  };
}

const ANTH_USAGE = {
  input_tokens: 10,
  cache_read_input_tokens: 30,
  cache_creation_input_tokens: 60,
  output_tokens: 20,
};

function anthropicAnswer(): Answer {
  const message = {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "m",
    content: [] as unknown[],
    stop_reason: null,
    stop_sequence: null,
    usage: { ...ANTH_USAGE, output_tokens: 1 },
  };
  return {
    plain: {
      ...message,
      content: [{ type: "text", text: "Hi" }],
      stop_reason: "end_turn",
      usage: ANTH_USAGE,
    },
    stream: [
      sse({ type: "message_start", message }, "message_start"),
      sse(
        { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
        "content_block_start",
      ),
      sse({ type: "ping" }, "ping"),
      sse(
        { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hi" } },
        "content_block_delta",
      ),
      sse({ type: "content_block_stop", index: 0 }, "content_block_stop"),
      sse({
        type: "message_delta",
        delta: { stop_reason: "end_turn", stop_sequence: null },
        usage: { output_tokens: 20 },
      }, "message_delta"),
      sse({ type: "message_stop" }, "message_stop"),
    ],
  };
}

const RESP_USAGE = {
  input_tokens: 100,
  output_tokens: 20,
  total_tokens: 120,
  input_tokens_details: { cached_tokens: 40 },
  output_tokens_details: { reasoning_tokens: 5 },
};

function responsesAnswer(): Answer {
  const item = {
    id: "msg_1",
    type: "message",
    role: "assistant",
    status: "completed",
    content: [{ type: "output_text", text: "Hi", annotations: [] }],
  };
  const response = {
    id: "resp_1",
    object: "response",
    created_at: 1,
    status: "completed",
    model: "m",
    output: [item],
    usage: RESP_USAGE,
  };
  return {
    plain: response,
    stream: [
      sse({
        type: "response.created",
        response: { ...response, status: "in_progress", output: [], usage: null },
      }, "response.created"),
      sse({
        type: "response.output_item.added",
        output_index: 0,
        item: { ...item, content: [], status: "in_progress" },
      }, "response.output_item.added"),
      sse({
        type: "response.output_text.delta",
        output_index: 0,
        content_index: 0,
        item_id: "msg_1",
        delta: "Hi",
      }, "response.output_text.delta"),
      sse(
        { type: "response.output_item.done", output_index: 0, item },
        "response.output_item.done",
      ),
      sse({ type: "response.completed", response }, "response.completed"),
    ],
  };
}

/** A handler over fake hosts whose answers report usage (or `none` for a chat server that reports none). */
function setup(options: { chatUsage?: unknown } = {}) {
  const records: RequestRecord[] = [];
  const sent: Record<string, unknown>[] = [];
  const chatUsage = "chatUsage" in options ? options.chatUsage : CHAT_USAGE;
  const fakeFetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    const body = await req.json() as Record<string, unknown>;
    sent.push(body);
    const host = new URL(req.url).host;
    const include = (body.stream_options as { include_usage?: boolean } | undefined)
      ?.include_usage === true;
    const answer = host === "anth.test"
      ? anthropicAnswer()
      : host === "resp.test"
      ? responsesAnswer()
      : chatAnswer(chatUsage, include);
    if (body.stream !== true) return Response.json(answer.plain);
    const encoder = new TextEncoder();
    return new Response(
      new ReadableStream({
        start(c) {
          for (const piece of answer.stream) c.enqueue(encoder.encode(piece));
          c.close();
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    );
  };
  const table = buildRouteTable(parseConfig(CONFIG, "/t.yaml", { env: () => undefined }));
  const handler = createHandler({
    routes: () => table,
    fetch: fakeFetch as typeof fetch,
    now: () => performance.now(),
    log: observingLogger(silentLogger, (r) => records.push(r)),
  });
  return { handler, records, sent };
}

const PATHS = {
  chat_completions: "/v1/chat/completions",
  messages: "/v1/messages",
  responses: "/v1/responses",
} as const;

function requestFor(client: keyof typeof PATHS, model: string, stream: boolean): Request {
  const body = client === "responses"
    ? { model, input: "hello", stream }
    : client === "messages"
    ? { model, max_tokens: 50, messages: [{ role: "user", content: "hello" }], stream }
    : { model, messages: [{ role: "user", content: "hello" }], stream };
  return new Request(`http://127.0.0.1:4356${PATHS[client]}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": "k" },
    body: JSON.stringify(body),
  });
}

const FROM_CHAT: Usage = {
  input: 100,
  output: 20,
  cachedInput: 40,
  cacheWrite: null,
  reasoning: 5,
};
const FROM_ANTH: Usage = {
  input: 100,
  output: 20,
  cachedInput: 30,
  cacheWrite: 60,
  reasoning: null,
};
const FROM_RESP: Usage = {
  input: 100,
  output: 20,
  cachedInput: 40,
  cacheWrite: null,
  reasoning: 5,
};

const PAIRS: [keyof typeof PATHS, string, Usage][] = [
  ["chat_completions", "m-chat", FROM_CHAT],
  ["chat_completions", "m-anth", FROM_ANTH],
  ["messages", "m-anth", FROM_ANTH],
  ["messages", "m-chat", FROM_CHAT],
  ["responses", "m-resp", FROM_RESP],
  ["responses", "m-chat", FROM_CHAT],
  ["responses", "m-anth", FROM_ANTH],
];

for (const [client, model, expected] of PAIRS) {
  for (const stream of [false, true]) {
    Deno.test(`usage reaches the record: ${client} client, ${model} upstream, ${stream ? "streamed" : "plain"}`, async () => {
      const { handler, records } = setup();
      const res = await handler(requestFor(client, model, stream));
      assert.equal(res.status, 200, await res.clone().text());
      await res.text();
      assert.equal(records.length, 1);
      assert.deepEqual(records[0].usage, expected);
    });
  }
}

Deno.test("a chat server that reports no usage leaves tokens unknown, never 0 — plain and streamed, same protocol and translated", async () => {
  const { handler, records } = setup({ chatUsage: undefined });
  for (
    const [client, stream] of [["chat_completions", false], ["chat_completions", true], [
      "messages",
      false,
    ], ["messages", true]] as const
  ) {
    const res = await handler(requestFor(client, "m-chat", stream));
    assert.equal(res.status, 200);
    await res.text();
  }
  assert.equal(records.length, 4);
  for (const r of records) assert.equal(r.usage, undefined, JSON.stringify(r));
});

Deno.test("Ollama's own counters (prompt_eval_count, eval_count) are read when an answer has no usage", async () => {
  const records: RequestRecord[] = [];
  const table = buildRouteTable(parseConfig(CONFIG, "/t.yaml", { env: () => undefined }));
  const ollamaFetch = () =>
    Promise.resolve(Response.json({
      model: "m",
      created_at: "2026-01-01T00:00:00Z",
      choices: [{ index: 0, message: { role: "assistant", content: "Hi" }, finish_reason: "stop" }],
      prompt_eval_count: 26,
      eval_count: 7,
    }));
  const handler = createHandler({
    routes: () => table,
    fetch: ollamaFetch as typeof fetch,
    now: () => performance.now(),
    log: observingLogger(silentLogger, (r) => records.push(r)),
  });
  for (const client of ["chat_completions", "messages"] as const) {
    const res = await handler(requestFor(client, "m-chat", false));
    assert.equal(res.status, 200);
    await res.text();
  }
  assert.equal(records.length, 2);
  for (const r of records) {
    assert.deepEqual(r.usage, {
      input: 26,
      output: 7,
      cachedInput: null,
      cacheWrite: null,
      reasoning: null,
    });
  }
});

Deno.test("a chat stream gets stream_options.include_usage upstream, and the client that did not ask never sees the usage chunk", async () => {
  const { handler, records, sent } = setup();
  const res = await handler(requestFor("chat_completions", "m-chat", true));
  const text = await res.text();
  assert.deepEqual(sent[0].stream_options, { include_usage: true });
  assert.equal(sent[0].model, "m-chat");
  assert.ok(!text.includes('"choices":[]'), text);
  assert.ok(!text.includes('"usage"'), text);
  assert.match(text, /"content":"Hi"/);
  assert.match(text, /data: \[DONE\]\n\n$/);
  assert.deepEqual(records[0].usage, FROM_CHAT);
});

Deno.test("a client that asked for usage gets the usage chunk as the upstream sent it", async () => {
  const { handler, records, sent } = setup();
  const res = await handler(
    new Request("http://127.0.0.1:4356/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "m-chat",
        messages: [{ role: "user", content: "hello" }],
        stream: true,
        stream_options: { include_usage: true },
      }),
    }),
  );
  const text = await res.text();
  assert.deepEqual(sent[0].stream_options, { include_usage: true });
  assert.match(text, /"choices":\[\],"usage":\{"prompt_tokens":100/);
  assert.deepEqual(records[0].usage, FROM_CHAT);
});

Deno.test("stream_options merges with the client's own, and is never sent where supports_stream_options is false", async () => {
  const { handler, sent } = setup();
  const body = (model: string, extra: Record<string, unknown> = {}) =>
    new Request("http://127.0.0.1:4356/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model,
        messages: [{ role: "user", content: "x" }],
        stream: true,
        ...extra,
      }),
    });
  await (await handler(body("m-chat", { stream_options: { continuous_usage_stats: true } })))
    .text();
  assert.deepEqual(sent[0].stream_options, { continuous_usage_stats: true, include_usage: true });
  await (await handler(body("m-nooptions"))).text();
  assert.equal(sent[1].stream_options, undefined);
  // A translated request (Messages client) to that provider: the translation's option is dropped.
  await (await handler(requestFor("messages", "m-nooptions", true))).text();
  assert.equal(sent[2].stream_options, undefined);
});
