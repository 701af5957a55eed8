import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { buildRouteTable } from "../../src/routing/route_table.ts";
import { createHandler } from "../../src/proxy/handler.ts";
import { createLogger, type Logger, silentLogger } from "../../src/observe/log.ts";

const KEY = "sk-live-0123456789abcdef";
const ORG = "org-secret-0123456789";

const CONFIG = `
server: { skip_auth: true }
upstream: { max_response_mb: 0.01, max_event_mb: 0.01, timeouts: { idle_secs: 5 } }
health: { failures: 100 }
providers:
  ollama:
    api_base: http://ollama.test/v1
    models: [llama3.1]
  openai:
    api_base: http://openai.test/v1
    api_key: ${KEY}
    headers: { authorization-extra: "Bearer ${ORG}" }
    models: [gpt-4o-mini]
models:
  smart:
    endpoints:
      - { provider: ollama, service_id: llama3.1 }
      - { provider: openai, service_id: gpt-4o-mini }
`;

type Route = (req: Request) => Response;

function setup(routes: Record<string, Route>, log: Logger = silentLogger) {
  const fakeFetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    await req.body?.cancel();
    const route = routes[new URL(req.url).host];
    if (!route) throw new TypeError("error sending request: Connection refused (os error 111)");
    return route(req);
  };
  const table = buildRouteTable(parseConfig(CONFIG, "/t.yaml", { env: () => undefined }));
  return createHandler({
    routes: () => table,
    fetch: fakeFetch as typeof fetch,
    now: () => performance.now(),
    log,
  });
}

/** A body of `total` bytes of `fill`, made as it is pulled; `state` says how much was. */
function endless(fill: string, total = 64 * 1024 * 1024, head = "") {
  const state = { pulled: 0, cancelled: false };
  const piece = new TextEncoder().encode(fill.repeat(Math.ceil(4096 / fill.length)));
  let first = true;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (first && head) {
        first = false;
        return c.enqueue(new TextEncoder().encode(head));
      }
      if (state.pulled >= total) return c.close();
      state.pulled += piece.length;
      c.enqueue(piece.slice());
    },
    cancel() {
      state.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { body, state };
}

const post = (path: string, body: unknown) =>
  new Request(`http://127.0.0.1:4356${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const chat = (model: string, extra: Record<string, unknown> = {}) =>
  post("/v1/chat/completions", { model, messages: [{ role: "user", content: "hi" }], ...extra });
const messages = (model: string, extra: Record<string, unknown> = {}) =>
  post("/v1/messages", {
    model,
    max_tokens: 10,
    messages: [{ role: "user", content: "hi" }],
    ...extra,
  });
const ok = () => Response.json({ object: "chat.completion", choices: [] });

Deno.test("an answer past max_response_mb fails over, and names the limit when nothing is left", async () => {
  const big = endless(" ", 64 * 1024 * 1024, '{"choices":[');
  const handler = setup({
    "ollama.test": () =>
      new Response(big.body, { headers: { "content-type": "application/json" } }),
    "openai.test": ok,
  });
  const served = await handler(chat("smart"));
  assert.equal(served.status, 200);
  assert.equal(served.headers.get("x-bitrouter-provider"), "openai");
  await served.body?.cancel();
  assert.ok(big.state.pulled < 64 * 1024, `read ${big.state.pulled} bytes of the answer`);
  assert.equal(big.state.cancelled, true);

  const declared = setup({
    "ollama.test": () =>
      new Response(endless(" ").body, { headers: { "content-length": "50000000" } }),
  });
  const res = await declared(chat("ollama:llama3.1"));
  assert.equal(res.status, 502);
  const { error } = await res.json();
  assert.match(
    error.message,
    /ollama: answer too large: over 0\.01 MiB \(upstream\.max_response_mb\)/,
  );
});

Deno.test("an upstream error body is read no further than 64 KiB, and its start is quoted", async () => {
  const page = endless("x", 256 * 1024 * 1024, "<html><title>Overloaded</title>");
  const handler = setup({ "ollama.test": () => new Response(page.body, { status: 500 }) });
  const res = await handler(chat("ollama:llama3.1"));
  assert.equal(res.status, 502);
  assert.match((await res.json()).error.message, /ollama: 500 Overloaded/);
  assert.ok(page.state.pulled < 128 * 1024, `read ${page.state.pulled} bytes of the error`);
  assert.equal(page.state.cancelled, true);
});

Deno.test("a 400 with a body over 64 KiB is BitRouter's 400 in the client's envelope, quoting its start", async () => {
  const handler = setup({
    "ollama.test": () =>
      new Response(endless("y", 1024 * 1024, '{"error":{"message":"bad ').body, { status: 400 }),
  });
  const res = await handler(messages("ollama:llama3.1"));
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.type, "error");
  assert.match(
    body.error.message,
    /^ollama answered 400 with an error body over 64 KiB; it begins: /,
  );
  assert.ok(body.error.message.length < 500);
  // A small 400 still passes through unchanged (SPEC §5).
  const small = setup({ "ollama.test": () => Response.json({ error: "bad" }, { status: 400 }) });
  const passed = await small(chat("ollama:llama3.1"));
  assert.equal(passed.status, 400);
  assert.deepEqual(await passed.json(), { error: "bad" });
});

Deno.test("an upstream error that echoes the provider's key reaches no client, log or status record", async () => {
  const echo = (status: number) => () =>
    Response.json({
      error: { message: `Incorrect API key provided: ${KEY}; org Bearer ${ORG}` },
    }, { status });
  const lines: string[] = [];
  const log = createLogger({ level: "debug", format: "json", write: (l) => lines.push(l) });
  const handler = setup({ "openai.test": echo(401) }, log);
  const failed = await handler(chat("openai:gpt-4o-mini"));
  assert.equal(failed.status, 502);
  const message = (await failed.json()).error.message;
  assert.match(message, /openai: 401 Incorrect API key provided: \[redacted\]; org \[redacted\]/);
  const status = await (await handler(new Request("http://127.0.0.1:4356/v1/bitrouter/status")))
    .text();
  assert.match(status, /\[redacted\]/);
  assert.ok(!status.includes(KEY) && !status.includes(ORG));
  assert.ok(lines.some((l) => l.includes("[redacted]")));
  assert.ok(!lines.some((l) => l.includes(KEY) || l.includes(ORG)), lines.join("\n"));

  // A passed-through 400, same protocol and translated, is redacted too.
  const bad = setup({ "openai.test": echo(400) });
  for (const req of [chat("openai:gpt-4o-mini"), messages("openai:gpt-4o-mini")]) {
    const res = await bad(req);
    assert.equal(res.status, 400);
    const text = await res.text();
    assert.match(text, /\[redacted\]/);
    assert.ok(!text.includes(KEY) && !text.includes(ORG), text);
  }
});

Deno.test("a translated stream with an event past max_event_mb ends with the client's error event", async () => {
  const line = endless("z", 128 * 1024 * 1024, 'data: {"choices":[{"delta":{"content":"');
  const handler = setup({
    "ollama.test": () =>
      new Response(line.body, { headers: { "content-type": "text/event-stream" } }),
  });
  const res = await handler(messages("ollama:llama3.1", { stream: true }));
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.match(text, /event: error\ndata: .*upstream\.max_event_mb/);
  assert.ok(!text.includes("message_stop"));
  assert.ok(line.state.pulled < 64 * 1024, `read ${line.state.pulled} bytes of the line`);
  assert.equal(line.state.cancelled, true);
});
