/**
 * SPEC §4 and §11 at the handler: what BitRouter answers itself tells SDKs not to retry, its own
 * 503s say when to come back, client-chosen text is bounded and cleaned before it reaches a
 * header or a log, and a bug of its own is a logged 500 with the request id, never a crash.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { buildRouteTable } from "../../src/routing/route_table.ts";
import { createHandler } from "../../src/proxy/handler.ts";
import { createLogger } from "../../src/observe/log.ts";
import { headerSafe, sanitizeRequestId } from "../../src/proxy/headers.ts";
import { MAX_JSON_DEPTH, nestsDeeperThan } from "../../src/proxy/json_depth.ts";

const CONFIG = `
server: { skip_auth: false, api_keys: [sk-bitrouter-test-key], max_body_mb: 0.001 }
providers:
  up:
    api_base: http://up.test/v1
    models: [m]
`;

function setup(fetchFn: (url: string) => Response | Promise<Response>, config = CONFIG) {
  const lines: string[] = [];
  const seen: string[] = [];
  const table = buildRouteTable(parseConfig(config, "/t.yaml", { env: () => undefined }));
  const handler = createHandler({
    routes: () => table,
    fetch: (async (url: string, init?: RequestInit) => {
      seen.push(url);
      await new Response(init?.body).arrayBuffer();
      return fetchFn(url);
    }) as typeof fetch,
    now: () => performance.now(),
    log: createLogger({ level: "debug", format: "json", write: (l) => lines.push(l) }),
  });
  return { handler, lines, seen };
}

const KEY = { authorization: "Bearer sk-bitrouter-test-key" };
const answer = () => Response.json({ object: "chat.completion", choices: [] });

const post = (path: string, body: string, headers: Record<string, string> = KEY) =>
  new Request(`http://127.0.0.1:4356${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });

Deno.test("BitRouter's own 400, 401, 403, 404, 405 and 413 carry x-should-retry: false", async () => {
  const { handler } = setup(answer);
  const cases: [number, Request][] = [
    [400, post("/v1/chat/completions", "{not json")],
    [401, post("/v1/chat/completions", '{"model":"m","messages":[]}', {})],
    [
      403,
      post("/v1/chat/completions", '{"model":"m","messages":[]}', {
        ...KEY,
        origin: "https://evil.example",
      }),
    ],
    [404, post("/v1/chat/completions", '{"model":"nobody-serves-this","messages":[]}')],
    [404, new Request("http://127.0.0.1:4356/v1/nothing-here", { headers: KEY })],
    [405, new Request("http://127.0.0.1:4356/v1/chat/completions", { headers: KEY })],
    [413, post("/v1/chat/completions", JSON.stringify({ model: "m", pad: "x".repeat(5000) }))],
  ];
  for (const [status, request] of cases) {
    const res = await handler(request);
    await res.body?.cancel();
    assert.equal(res.status, status, request.url);
    assert.equal(res.headers.get("x-should-retry"), "false", `${status} ${request.url}`);
  }
});

Deno.test("an upstream's own 400 is passed through without x-should-retry added", async () => {
  const { handler } = setup(() =>
    Response.json({ error: { message: "bad temperature" } }, { status: 400 })
  );
  const res = await handler(post("/v1/chat/completions", '{"model":"m","messages":[]}'));
  assert.equal(res.status, 400);
  assert.equal(res.headers.get("x-should-retry"), null);
  assert.match(await res.text(), /bad temperature/);
});

Deno.test("a 503 for a model whose servers are all down carries Retry-After", async () => {
  const table = buildRouteTable(
    parseConfig(
      `providers:\n  up: { api_base: "http://up.test/v1", models: [m] }\n`,
      "/t.yaml",
      { env: () => undefined },
    ),
  );
  table.providers.get("up")!.downReason = "connection refused";
  const handler = createHandler({
    routes: () => table,
    fetch: (() => Promise.reject(new Error("must not be called"))) as typeof fetch,
    now: () => performance.now(),
    log: createLogger({ level: "error", format: "json", write: () => {} }),
  });
  const res = await handler(post("/v1/chat/completions", '{"model":"m","messages":[]}', {}));
  await res.body?.cancel();
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "15");
});

Deno.test("a client's x-request-id loses C0 and C1 controls and is cut to 128 characters before header and log", async () => {
  const { handler, lines } = setup(answer);
  // Headers carry bytes 0x80–0xFF as U+0080–U+00FF: U+009B is a terminal's escape introducer.
  const res = await handler(
    post("/v1/chat/completions", '{"model":"m","messages":[]}', {
      ...KEY,
      "x-request-id": "abc\u009b31m\u0085def",
    }),
  );
  await res.body?.cancel();
  assert.equal(res.headers.get("x-request-id"), "abc31mdef");
  assert.ok(lines.every((l) => !/[\u0080-\u009f]/.test(l)));
  assert.ok(lines.some((l) => l.includes('"abc31mdef"')));
  assert.equal(sanitizeRequestId("x".repeat(500))!.length, 128);
  assert.equal(sanitizeRequestId("\u0085\u009b"), undefined, "nothing left: a new id is made");
  const fresh = await handler(
    post("/v1/chat/completions", '{"model":"m","messages":[]}', {
      ...KEY,
      "x-request-id": "\u0085",
    }),
  );
  await fresh.body?.cancel();
  assert.match(fresh.headers.get("x-request-id")!, /^[0-9a-f-]{36}$/);
});

Deno.test("ids in a models: [] fallback list are capped like model, without echoing them whole", async () => {
  const { handler, lines, seen } = setup(
    answer,
    CONFIG.replace("max_body_mb: 0.001", "max_body_mb: 8"),
  );
  const huge = "x".repeat(2_000_000);
  const res = await handler(
    post("/v1/chat/completions", JSON.stringify({ model: "m", models: [huge], messages: [] })),
  );
  const text = await res.text();
  assert.equal(res.status, 400);
  assert.match(text, /models\[0\] is 2000000 characters long; model ids are at most 512/);
  assert.ok(text.length < 1000, "the error does not echo the id");
  assert.ok(lines.every((l) => l.length < 2000), "nor does the log");
  assert.equal(seen.length, 0);
});

Deno.test("a bug of BitRouter's own is a 500 in the client's envelope, logged with the request id", async () => {
  // An upstream "response" that is not a Response makes the relay throw: stands for any bug.
  const { handler, lines } = setup(() => ({}) as Response);
  const res = await handler(
    post("/v1/messages", '{"model":"m","max_tokens":5,"messages":[]}', {
      ...KEY,
      "x-request-id": "req-bug-1",
    }),
  );
  const body = await res.json();
  assert.equal(res.status, 500);
  assert.equal(body.type, "error", "Anthropic's envelope on /v1/messages");
  assert.match(body.error.message, /req-bug-1/);
  const internal = lines.find((l) => l.includes("internal error"));
  assert.ok(internal, lines.join("\n"));
  assert.match(internal, /req-bug-1/);
  const request = lines.map((l) => JSON.parse(l)).find((l) => l.status !== undefined);
  assert.equal(request.status, 500, "the request line logs what the client got");
});

Deno.test("headerSafe keeps printable ASCII and percent-encodes the rest, reversibly", () => {
  for (const id of ["llama3.1:8b", "模型", "llama🦙", "a\u2028b", "50%", "tab\there"]) {
    const v = headerSafe(id);
    assert.match(v, /^[\x20-\x7e]*$/, id);
    assert.equal(decodeURIComponent(v), id);
  }
  assert.equal(headerSafe("llama3.1:8b"), "llama3.1:8b");
  assert.equal(headerSafe("a\ud800b"), "a%EF%BF%BDb", "a lone surrogate does not throw");
});

Deno.test("nestsDeeperThan counts objects and arrays, skipping brackets inside strings", () => {
  assert.equal(nestsDeeperThan("[".repeat(3) + "]".repeat(3), 3), false);
  assert.equal(nestsDeeperThan("[".repeat(4) + "]".repeat(4), 3), true);
  assert.equal(nestsDeeperThan(`{"a":"[[[[[[\\"[[[[","b":[{}]}`, 3), false);
  assert.equal(nestsDeeperThan('{"a":{"b":{"c":{}}}}', 3), true);
  assert.equal(nestsDeeperThan("[".repeat(MAX_JSON_DEPTH) + "]".repeat(MAX_JSON_DEPTH)), false);
});
