/**
 * The end of a graceful drain (SIGTERM's grace period over) at the handler: every running stream
 * ends with the client protocol's own error event, requests still waiting for their upstream get
 * a 503 in the client's envelope, every upstream request is aborted, and nothing new is sent.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { buildRouteTable } from "../../src/routing/route_table.ts";
import { createHandler } from "../../src/proxy/handler.ts";
import { Drain, ShutdownError } from "../../src/proxy/drain.ts";
import { silentLogger } from "../../src/observe/log.ts";

const CONFIG = `
server: { skip_auth: true }
health: { failures: 1, cooldown_secs: 60 }
upstream: { timeouts: { first_byte_secs: 30, idle_secs: 30 } }
providers:
  ollama:
    api_base: http://ollama.test/v1
    models: [llama3.1]
  claude:
    api_base: http://claude.test/v1
    api_protocol: messages
    models: [claude-x]
  stuck:
    api_base: http://stuck.test/v1
    models: [slow]
`;

const enc = new TextEncoder();

/** One SSE event, then silence until the request is aborted (which errors the body). */
function oneEventThenSilence(event: string, signal: AbortSignal): Response {
  return new Response(
    new ReadableStream({
      start(c) {
        c.enqueue(enc.encode(event));
        signal.addEventListener("abort", () => c.error(signal.reason), { once: true });
      },
    }),
    { headers: { "content-type": "text/event-stream" } },
  );
}

const CHAT_EVENT =
  'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"llama3.1","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}\n\n';
const MESSAGES_EVENTS =
  'event: message_start\ndata: {"type":"message_start","message":{"id":"m1","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"usage":{"input_tokens":1,"output_tokens":0}}}\n\n' +
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n' +
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}\n\n';

function setup() {
  const signals: AbortSignal[] = [];
  const fakeFetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    const body = JSON.parse(await req.text());
    const signal = init!.signal!;
    signals.push(signal);
    const host = new URL(req.url).host;
    if (host === "stuck.test") {
      // No headers until aborted.
      return await new Promise<Response>((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason), { once: true })
      );
    }
    if (!body.stream) return Response.json({ error: "this fake only streams" }, { status: 500 });
    return oneEventThenSilence(host === "claude.test" ? MESSAGES_EVENTS : CHAT_EVENT, signal);
  };
  const table = buildRouteTable(parseConfig(CONFIG, "/t.yaml", { env: () => undefined }));
  const drain = new Drain();
  const handler = createHandler({
    routes: () => table,
    fetch: fakeFetch as typeof fetch,
    now: () => performance.now(),
    log: silentLogger,
    drain,
  });
  return { handler, drain, signals };
}

const post = (path: string, body: unknown) =>
  new Request(`http://127.0.0.1:4356${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

const hi = [{ role: "user", content: "hi" }];

/** Reads a streamed answer: its first chunk now, the rest (after `then`) to the end. */
async function firstChunkThenRest(res: Response, then: () => void): Promise<[string, string]> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const first = await reader.read();
  then();
  let rest = "";
  for (let r = await reader.read(); !r.done; r = await reader.read()) rest += r.value;
  return [first.value ?? "", rest];
}

for (
  const [label, path, body, expected] of [
    [
      "chat stream (same protocol)",
      "/v1/chat/completions",
      { model: "ollama:llama3.1", messages: hi, stream: true },
      /^\s*data: \{"error":\{"message":"BitRouter is shutting down; [^"]*","type":"upstream_error"/,
    ],
    [
      "messages stream (same protocol)",
      "/v1/messages",
      { model: "claude:claude-x", max_tokens: 10, messages: hi, stream: true },
      /^\s*event: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"BitRouter is shutting down; /,
    ],
    [
      "messages stream translated from chat",
      "/v1/messages",
      { model: "ollama:llama3.1", max_tokens: 10, messages: hi, stream: true },
      /event: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"BitRouter is shutting down; /,
    ],
    [
      "responses stream translated from chat",
      "/v1/responses",
      { model: "ollama:llama3.1", input: "hi", stream: true },
      /event: response\.failed\ndata: \{[^\n]*"status":"failed"[^\n]*BitRouter is shutting down; /,
    ],
  ] as const
) {
  Deno.test(`endAll ends a running ${label} with the client's error event and aborts the upstream`, async () => {
    const { handler, drain, signals } = setup();
    const res = await handler(post(path, body));
    assert.equal(res.status, 200);
    assert.equal(drain.size, 1);
    let ended = -1;
    const [first, rest] = await firstChunkThenRest(res, () => ended = drain.endAll());
    assert.ok(first.length > 0);
    assert.equal(ended, 1);
    assert.match(rest, expected);
    assert.doesNotMatch(first + rest, /\[DONE\]|message_stop|response\.completed/);
    assert.ok(signals[0].aborted && signals[0].reason instanceof ShutdownError);
    assert.equal(drain.size, 0);
  });
}

Deno.test("endAll answers a request still waiting for headers with 503 in its envelope", async () => {
  const { handler, drain, signals } = setup();
  const chat = handler(post("/v1/chat/completions", { model: "slow", messages: hi }));
  const messages = handler(post("/v1/messages", { model: "slow", max_tokens: 5, messages: hi }));
  while (signals.length < 2) await new Promise((r) => setTimeout(r, 1));
  assert.equal(drain.endAll(), 2);

  const a = await chat;
  assert.equal(a.status, 503);
  const ja = await a.json();
  assert.equal(ja.error.code, "shutting_down");
  assert.match(ja.error.message, /^BitRouter is shutting down/);

  const b = await messages;
  assert.equal(b.status, 503);
  const jb = await b.json();
  assert.equal(jb.type, "error");
  assert.match(jb.error.message, /^BitRouter is shutting down/);
  assert.ok(signals.every((s) => s.reason instanceof ShutdownError));
  assert.equal(drain.size, 0);
});

Deno.test("after endAll a new request is a 503 at once, and nothing is sent upstream", async () => {
  const { handler, drain, signals } = setup();
  drain.endAll();
  const res = await handler(post("/v1/chat/completions", { model: "slow", messages: hi }));
  assert.equal(res.status, 503);
  assert.equal((await res.json()).error.code, "shutting_down");
  assert.equal(signals.length, 0);
});

Deno.test("requests ended by a shutdown do not cool their endpoint down", async () => {
  const { handler, drain } = setup();
  const pending = handler(post("/v1/chat/completions", { model: "slow", messages: hi }));
  const stream = await handler(
    post("/v1/chat/completions", { model: "ollama:llama3.1", messages: hi, stream: true }),
  );
  while (drain.size < 2) await new Promise((r) => setTimeout(r, 1));
  drain.endAll();
  await (await pending).body?.cancel();
  await stream.text();
  const status = await (await handler(new Request("http://x/v1/bitrouter/status"))).json();
  assert.deepEqual(status.endpoints, []);
});

Deno.test("a request that finishes is no longer tracked", async () => {
  const { handler, drain } = setup();
  const res = await handler(
    post("/v1/chat/completions", { model: "ollama:llama3.1", messages: hi, stream: true }),
  );
  assert.equal(drain.size, 1);
  await res.body!.cancel();
  assert.equal(drain.size, 0);
  // An upstream 500 on the only candidate: a 502 after one attempt.
  const failed = await handler(
    post("/v1/chat/completions", { model: "ollama:llama3.1", messages: hi }),
  );
  assert.equal(failed.status, 502);
  await failed.body?.cancel();
  assert.equal(drain.size, 0);
});
