import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { buildRouteTable } from "../../src/routing/route_table.ts";
import { createHandler } from "../../src/proxy/handler.ts";
import { silentLogger } from "../../src/observe/log.ts";

const CONFIG = `
server: { skip_auth: true, max_body_mb: 0.001 }
upstream: { timeouts: { first_byte_secs: 0.2, idle_secs: 0.2 } }
providers:
  ollama:
    api_base: http://ollama.test/v1
    models: [{ id: llama3.1, provider_model_id: "llama3.1:8b" }]
  openai:
    api_base: http://openai.test/v1
    api_key: sk-up
    models: [gpt-4o-mini]
  anthropic:
    api_key: ak
models:
  smart:
    endpoints:
      - { provider: ollama, service_id: llama3.1 }
      - { provider: openai, service_id: gpt-4o-mini }
  claude-first:
    endpoints:
      - { provider: anthropic, service_id: claude-sonnet-4-5 }
      - { provider: openai, service_id: gpt-4o-mini }
`;

type Route = (req: Request, signal: AbortSignal) => Promise<Response> | Response;

function setup(routes: Record<string, Route>, config = CONFIG) {
  const seen: { url: string; headers: Headers; body: string }[] = [];
  const fakeFetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    const body = await req.text();
    seen.push({ url: req.url, headers: req.headers, body });
    const host = new URL(req.url).host;
    const route = routes[host];
    if (!route) {
      throw new TypeError(
        "error sending request: tcp connect error: Connection refused (os error 111)",
      );
    }
    return await route(
      new Request(req.url, { method: "POST", headers: req.headers, body }),
      init!.signal!,
    );
  };
  const table = buildRouteTable(parseConfig(config, "/t.yaml", { env: () => undefined }));
  const handler = createHandler({
    routes: () => table,
    fetch: fakeFetch as typeof fetch,
    now: () => performance.now(),
    log: silentLogger,
  });
  return { handler, seen };
}

const chat = (body: unknown, headers: Record<string, string> = {}) =>
  new Request("http://127.0.0.1:4356/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

const ok = (who: string) => () => Response.json({ object: "chat.completion", served_by: who });
const status = (s: number, headers: Record<string, string> = {}) => () =>
  new Response(JSON.stringify({ error: { message: `upstream says ${s}` } }), {
    status: s,
    headers,
  });
const hang: Route = (_req, signal) =>
  new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));

Deno.test("a healthy first endpoint serves the virtual model, with the served-by headers", async () => {
  const { handler, seen } = setup({ "ollama.test": ok("ollama"), "openai.test": ok("openai") });
  const res = await handler(
    chat({ model: "smart", messages: [], extra_field: { kept: true } }, { "x-request-id": "abc" }),
  );
  assert.equal(res.status, 200);
  assert.equal((await res.json()).served_by, "ollama");
  assert.equal(res.headers.get("x-bitrouter-provider"), "ollama");
  assert.equal(res.headers.get("x-bitrouter-model"), "llama3.1:8b");
  assert.equal(res.headers.get("x-bitrouter-attempts"), "1");
  assert.equal(res.headers.get("x-request-id"), "abc");
  assert.deepEqual(JSON.parse(seen[0].body), {
    model: "llama3.1:8b",
    messages: [],
    extra_field: { kept: true },
  });
  assert.equal(seen[0].url, "http://ollama.test/v1/chat/completions");
});

for (
  const [name, route] of [
    ["refused", undefined],
    ["503", status(503)],
    ["500", status(500)],
    ["429", status(429)],
    ["404 (model not pulled)", status(404)],
    ["401", status(401)],
    ["408", status(408)],
    ["no headers within first_byte_secs", hang],
  ] as const
) {
  Deno.test(`the virtual model fails over to the next endpoint when the first is ${name}`, async () => {
    const routes: Record<string, Route> = { "openai.test": ok("openai") };
    if (route) routes["ollama.test"] = route;
    const { handler, seen } = setup(routes);
    const res = await handler(chat({ model: "smart", messages: [] }));
    assert.equal(res.status, 200);
    assert.equal((await res.json()).served_by, "openai");
    assert.equal(res.headers.get("x-bitrouter-attempts"), "2");
    assert.equal(seen.at(-1)!.headers.get("authorization"), "Bearer sk-up");
  });
}

for (const s of [400, 413, 422]) {
  Deno.test(`an upstream ${s} is returned unchanged, without failover`, async () => {
    const { handler, seen } = setup({ "ollama.test": status(s), "openai.test": ok("openai") });
    const res = await handler(chat({ model: "smart", messages: [] }));
    assert.equal(res.status, s);
    assert.deepEqual(await res.json(), { error: { message: `upstream says ${s}` } });
    assert.equal(seen.length, 1);
  });
}

Deno.test("when every candidate fails the answer is 502 and lists each attempt", async () => {
  const { handler } = setup({ "openai.test": status(500, { "content-type": "text/html" }) });
  const res = await handler(chat({ model: "smart", messages: [] }));
  assert.equal(res.status, 502);
  const { error } = await res.json();
  assert.equal(
    error.message,
    'all 2 candidates for "smart" failed: ollama: connection refused (is the server running?); openai: 500 upstream says 500',
  );
  assert.equal(res.headers.get("x-bitrouter-attempts"), "2");
});

Deno.test("when every candidate is rate limited the answer is 429 with Retry-After", async () => {
  const { handler } = setup({
    "ollama.test": status(429, { "retry-after": "20" }),
    "openai.test": status(429, { "retry-after": "5" }),
  });
  const res = await handler(chat({ model: "smart", messages: [] }));
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("retry-after"), "5");
  await res.body?.cancel();
});

Deno.test("when every candidate times out the answer is 504", async () => {
  const { handler } = setup({ "ollama.test": hang, "openai.test": hang });
  const res = await handler(chat({ model: "smart", messages: [] }));
  assert.equal(res.status, 504);
  assert.match((await res.json()).error.message, /first_byte_secs/);
});

Deno.test("connect_secs: an unreachable server fails at connect_secs, a reachable one waits for first_byte_secs", async () => {
  // Both upstreams hang before their headers; only the TCP probe at connect_secs tells them apart.
  const listening = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = closed.addr.port;
  closed.close();
  const up = `127.0.0.1:${listening.addr.port}`;
  const down = `127.0.0.1:${closedPort}`;
  const { handler } = setup(
    { [up]: hang, [down]: hang },
    `
server: { skip_auth: true }
upstream: { timeouts: { connect_secs: 0.1, first_byte_secs: 0.6 } }
providers:
  up: { api_base: "http://${up}/v1", models: [m-up] }
  down: { api_base: "http://${down}/v1", models: [m-down] }
`,
  );
  try {
    let started = performance.now();
    let res = await handler(chat({ model: "m-down", messages: [] }));
    const downMs = performance.now() - started;
    assert.equal(res.status, 504);
    assert.match(
      (await res.json()).error.message,
      /could not connect within 0\.1s \(connect_secs\)/,
    );
    assert.ok(downMs < 500, `gave up after ${Math.round(downMs)} ms, not at connect_secs`);

    started = performance.now();
    res = await handler(chat({ model: "m-up", messages: [] }));
    const upMs = performance.now() - started;
    assert.equal(res.status, 504);
    assert.match((await res.json()).error.message, /no response headers within 0\.6s/);
    assert.ok(upMs >= 590, `gave up after ${Math.round(upMs)} ms, before first_byte_secs`);
  } finally {
    listening.close();
  }
});

Deno.test("a chat request to an Anthropic candidate is translated, with its key headers, and answered as chat", async () => {
  const { handler, seen } = setup({
    "api.anthropic.com": () =>
      Response.json({
        id: "msg_1",
        type: "message",
        role: "assistant",
        model: "claude-sonnet-4-5",
        content: [{ type: "text", text: "Bonjour" }],
        stop_reason: "end_turn",
        stop_sequence: null,
        usage: { input_tokens: 5, output_tokens: 2 },
      }),
  });
  const res = await handler(
    chat({ model: "claude-first", messages: [{ role: "user", content: "Salut" }] }),
  );
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-bitrouter-provider"), "anthropic");
  const answer = await res.json();
  assert.equal(answer.object, "chat.completion");
  assert.equal(answer.choices[0].message.content, "Bonjour");
  assert.equal(answer.choices[0].finish_reason, "stop");
  assert.equal(seen.length, 1);
  assert.equal(seen[0].url, "https://api.anthropic.com/v1/messages");
  assert.equal(seen[0].headers.get("x-api-key"), "ak");
  assert.equal(seen[0].headers.get("anthropic-version"), "2023-06-01");
  assert.equal(seen[0].headers.get("authorization"), null);
  const sent = JSON.parse(seen[0].body);
  assert.deepEqual(sent.messages, [{ role: "user", content: [{ type: "text", text: "Salut" }] }]);
  assert.equal(sent.model, "claude-sonnet-4-5");
  assert.equal(typeof sent.max_tokens, "number");
});

Deno.test("a candidate whose protocol cannot take the endpoint is skipped, not sent the wrong protocol", async () => {
  // Every generation pair translates; embeddings exist only in Chat Completions' protocol.
  const { handler, seen } = setup({ "openai.test": ok("openai") });
  const res = await handler(
    new Request("http://127.0.0.1:4356/v1/embeddings", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "claude-first", input: "hi" }),
    }),
  );
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-bitrouter-attempts"), "1");
  assert.equal(res.headers.get("x-bitrouter-provider"), "openai");
  assert.ok(seen.every((s) => !s.url.includes("anthropic")));
  await res.body?.cancel();
});

Deno.test("a stream that dies after its first chunk ends with an in-band error event", async () => {
  const enc = new TextEncoder();
  const { handler } = setup({
    "ollama.test": () =>
      new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(enc.encode('data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n'));
            setTimeout(() => c.error(new Error("connection reset by peer")), 10);
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      ),
  });
  const res = await handler(chat({ model: "ollama:llama3.1", messages: [], stream: true }));
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.ok(text.startsWith('data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n'));
  assert.match(
    text,
    /data: \{"error":\{"message":"the stream from ollama broke off: .*connection reset by peer.*","type":"upstream_error","code":"stream_interrupted"/,
  );
  assert.ok(!text.includes("[DONE]"));
});

Deno.test("a stream that stalls past idle_secs ends with an in-band error event", async () => {
  const enc = new TextEncoder();
  const { handler } = setup({
    "ollama.test": (_req, signal) =>
      new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(enc.encode("data: {}\n\n"));
            signal.addEventListener("abort", () => c.error(signal.reason));
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      ),
  });
  const started = performance.now();
  const res = await handler(chat({ model: "ollama:llama3.1", messages: [], stream: true }));
  const text = await res.text();
  assert.match(text, /idle_secs/);
  assert.ok(performance.now() - started < 2000);
});

Deno.test("bad requests get 400 in the OpenAI envelope with the reason", async () => {
  const { handler } = setup({});
  for (
    const [body, reason] of [
      ["{not json", /not valid JSON/],
      ["", /empty/],
      ["[1,2]", /JSON object/],
      [{ messages: [] }, /`model`/],
      [{ model: "smart" }, /`messages`/],
      [{ model: 42, messages: [] }, /`model`/],
    ] as const
  ) {
    const res = await handler(chat(body));
    assert.equal(res.status, 400);
    const j = await res.json();
    assert.match(j.error.message, reason);
    assert.equal(j.error.type, "invalid_request_error");
  }
});

Deno.test("an unknown model is 404 model_not_found naming bitrouter models", async () => {
  const { handler } = setup({});
  const res = await handler(chat({ model: "nope", messages: [] }));
  assert.equal(res.status, 404);
  const { error } = await res.json();
  assert.equal(error.code, "model_not_found");
  assert.match(error.message, /bitrouter models/);
});

Deno.test("a body over max_body_mb is 413", async () => {
  const { handler } = setup({});
  const res = await handler(chat({ model: "smart", messages: [{ content: "x".repeat(5000) }] }));
  assert.equal(res.status, 413);
  await res.body?.cancel();
});

Deno.test("unknown paths are 404, wrong methods 405 with Allow, /health is open", async () => {
  const { handler } = setup({});
  const r1 = await handler(new Request("http://x/v2/whatever"));
  assert.equal(r1.status, 404);
  await r1.body?.cancel();
  const r2 = await handler(new Request("http://x/v1/chat/completions"));
  assert.equal(r2.status, 405);
  assert.equal(r2.headers.get("allow"), "POST");
  await r2.body?.cancel();
  const r3 = await handler(new Request("http://x/health"));
  assert.deepEqual(await r3.json(), { status: "ok" });
  const r4 = await handler(new Request("http://x/v1/messages", { method: "POST", body: "{}" }));
  assert.equal(r4.status, 400);
  const e4 = await r4.json();
  assert.equal(e4.type, "error", "an Anthropic envelope on /v1/messages");
  assert.match(e4.error.message, /model/);
});

Deno.test("/v1/models lists exactly what resolves, and /v1/models/{id} answers for each", async () => {
  const { handler } = setup({});
  const list = await (await handler(new Request("http://x/v1/models"))).json();
  assert.equal(list.object, "list");
  const ids = list.data.map((m: { id: string }) => m.id);
  assert.deepEqual(ids, [
    "claude-first",
    "claude-haiku-4-5",
    "claude-opus-4-1",
    "claude-sonnet-4-5",
    "gpt-4o-mini",
    "llama3.1",
    "smart",
  ]);
  for (const id of ids) {
    const res = await handler(new Request(`http://x/v1/models/${encodeURIComponent(id)}`));
    assert.equal(res.status, 200, id);
    assert.equal((await res.json()).id, id);
  }
  for (const bad of ["nope", "%E0%A4%A"]) {
    const missing = await handler(new Request(`http://x/v1/models/${bad}`));
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, "model_not_found");
  }
});

Deno.test("with skip_auth false every /v1 call needs one of the keys; /health stays open", async () => {
  const { handler } = setup(
    { "ollama.test": ok("ollama") },
    CONFIG.replace("skip_auth: true", "skip_auth: false, api_keys: [k1, k2]"),
  );
  const denied = await handler(chat({ model: "ollama:x", messages: [] }));
  assert.equal(denied.status, 401);
  assert.match((await denied.json()).error.message, /Authorization: Bearer/);
  const wrong = await handler(
    chat({ model: "ollama:x", messages: [] }, { authorization: "Bearer k3" }),
  );
  assert.equal(wrong.status, 401);
  await wrong.body?.cancel();
  const bearer = await handler(
    chat({ model: "ollama:x", messages: [] }, { authorization: "Bearer k2" }),
  );
  assert.equal(bearer.status, 200);
  await bearer.body?.cancel();
  const xkey = await handler(chat({ model: "ollama:x", messages: [] }, { "x-api-key": "k1" }));
  assert.equal(xkey.status, 200);
  await xkey.body?.cancel();
  const health = await handler(new Request("http://x/health"));
  assert.equal(health.status, 200);
  await health.body?.cancel();
});

Deno.test("a request's own `models` list is tried after its model, and never sent upstream", async () => {
  const { handler, seen } = setup({ "openai.test": ok("openai") });
  const res = await handler(
    chat({ model: "ollama:llama3.1", models: ["gpt-4o-mini"], messages: [], extra: 1 }),
  );
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-bitrouter-provider"), "openai");
  assert.equal(res.headers.get("x-bitrouter-attempts"), "2");
  await res.body?.cancel();
  assert.deepEqual(seen.map((s) => new URL(s.url).host), ["ollama.test", "openai.test"]);
  for (const s of seen) {
    const sent = JSON.parse(s.body);
    assert.equal("models" in sent, false);
    assert.equal(sent.extra, 1);
  }
});

Deno.test("an unknown id in `models` is a 400 naming it, before anything is sent", async () => {
  const { handler, seen } = setup({ "openai.test": ok("openai") });
  const res = await handler(chat({ model: "gpt-4o-mini", models: ["nope"], messages: [] }));
  assert.equal(res.status, 400);
  const e = (await res.json()).error;
  assert.equal(e.param, "models");
  assert.match(e.message, /models\[0\]: model "nope"/);
  assert.equal(seen.length, 0);
});

Deno.test("after 3 failures an endpoint cools down: the next request goes to the healthy one first", async () => {
  let ollamaCalls = 0;
  const { handler } = setup({
    "ollama.test": () => {
      ollamaCalls++;
      return new Response("overloaded", { status: 503 });
    },
    "openai.test": ok("openai"),
  });
  for (let i = 0; i < 3; i++) {
    const res = await handler(chat({ model: "smart", messages: [] }));
    assert.equal(res.headers.get("x-bitrouter-attempts"), "2");
    await res.body?.cancel();
  }
  assert.equal(ollamaCalls, 3);
  const res = await handler(chat({ model: "smart", messages: [] }));
  assert.equal(res.headers.get("x-bitrouter-provider"), "openai");
  assert.equal(res.headers.get("x-bitrouter-attempts"), "1");
  await res.body?.cancel();
  assert.equal(ollamaCalls, 3, "the cooling endpoint was not called");
});

Deno.test("a cooling endpoint is still tried when nothing else is left", async () => {
  let calls = 0;
  const { handler } = setup({
    "ollama.test": () => {
      calls++;
      return calls <= 3
        ? new Response("down", { status: 502 })
        : Response.json({ object: "chat.completion" });
    },
  });
  for (let i = 0; i < 3; i++) {
    (await handler(chat({ model: "ollama:llama3.1", messages: [] }))).body?.cancel();
  }
  const res = await handler(chat({ model: "ollama:llama3.1", messages: [] }));
  assert.equal(res.status, 200);
  assert.equal(calls, 4);
  await res.body?.cancel();
});

Deno.test("a 200 whose body is not JSON fails over, and is named when nothing is left", async () => {
  const html = () =>
    new Response("<html><body>Welcome to nginx</body></html>", {
      headers: { "content-type": "text/html" },
    });
  const cut = () =>
    new Response('{"object":"chat.completion","choices":[{"mess', {
      headers: { "content-type": "application/json" },
    });
  const { handler } = setup({ "ollama.test": html, "openai.test": ok("openai") });
  const res = await handler(chat({ model: "smart", messages: [] }));
  assert.equal(res.headers.get("x-bitrouter-provider"), "openai");
  await res.body?.cancel();

  const { handler: h2 } = setup({ "ollama.test": cut, "openai.test": html });
  const failed = await h2(chat({ model: "smart", messages: [] }));
  assert.equal(failed.status, 502);
  assert.match(
    (await failed.json()).error.message,
    /ollama: answered 200 with a body that is not JSON \(application\/json\); openai: answered 200 with a body that is not JSON \(text\/html\)/,
  );
});

Deno.test("a same-protocol stream that ends without [DONE] ends with the error event", async () => {
  const sse = (text: string) => () =>
    new Response(text, { headers: { "content-type": "text/event-stream" } });
  const chunk = 'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n';
  const { handler } = setup({ "ollama.test": sse(chunk) });
  const res = await handler(chat({ model: "ollama:llama3.1", messages: [], stream: true }));
  const text = await res.text();
  assert.ok(text.startsWith(chunk));
  assert.match(text, /"code":"stream_interrupted"/);
  assert.match(text, /ended before its final event/);

  const { handler: h2 } = setup({ "ollama.test": sse(chunk + "data: [DONE]\n\n") });
  const clean = await h2(chat({ model: "ollama:llama3.1", messages: [], stream: true }));
  assert.equal(await clean.text(), chunk + "data: [DONE]\n\n");
});

Deno.test("hostile bodies get a clear 400 in the endpoint's envelope, never a 500", async () => {
  const { handler, seen } = setup({ "ollama.test": ok("ollama") });
  const post = (path: string, body: BodyInit, type = "application/json") =>
    handler(
      new Request(`http://x${path}`, { method: "POST", body, headers: { "content-type": type } }),
    );
  const cases: [string, BodyInit, string, RegExp][] = [
    [
      "/v1/chat/completions",
      new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
      "application/json",
      /not valid UTF-8/,
    ],
    [
      "/v1/chat/completions",
      "model=x&messages=y",
      "application/x-www-form-urlencoded",
      /not valid JSON.*Content-Type: application\/x-www-form-urlencoded; send application\/json/,
    ],
    [
      "/v1/chat/completions",
      JSON.stringify({ model: "x".repeat(600), messages: [] }),
      "application/json",
      /at most 512/,
    ],
    [
      "/v1/chat/completions",
      JSON.stringify({ model: "llama3.1", messages: "hi" }),
      "application/json",
      /`messages` \(a list\)/,
    ],
    [
      "/v1/messages",
      JSON.stringify({ model: 42, messages: [] }),
      "application/json",
      /missing required field `model`/,
    ],
    ["/v1/responses", "[1,2]", "application/json", /must be a JSON object/],
  ];
  for (const [path, body, type, message] of cases) {
    const res = await post(path, body, type);
    assert.equal(res.status, 400, `${path} ${String(body).slice(0, 40)}`);
    const e = await res.json();
    assert.match(path === "/v1/messages" ? e.error.message : e.error.message, message);
    if (path === "/v1/messages") assert.equal(e.type, "error");
  }
  assert.equal(seen.length, 0);
});

Deno.test("property: random JSON bodies never make the handler answer 5xx or throw", async () => {
  const { handler } = setup({ "ollama.test": ok("ollama"), "openai.test": ok("openai") });
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const value = (depth: number): unknown => {
    const r = rand();
    if (depth > 3 || r < 0.3) {
      return pick([
        null,
        true,
        false,
        0,
        -1,
        1e308,
        "",
        "llama3.1",
        "smart",
        "ollama:",
        ":",
        "\u0000",
        "x".repeat(600),
      ]);
    }
    if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = 0; i < rand() * 5; i++) {
      o[
        pick([
          "model",
          "messages",
          "models",
          "stream",
          "input",
          "tools",
          "system",
          "max_tokens",
          "__proto__",
          "x",
        ])
      ] = value(depth + 1);
    }
    return o;
  };
  for (let i = 0; i < 400; i++) {
    const path = pick([
      "/v1/chat/completions",
      "/v1/messages",
      "/v1/responses",
      "/v1/embeddings",
      "/v1/messages/count_tokens",
    ]);
    const body = rand() < 0.1 ? "{" : JSON.stringify(value(0));
    const res = await handler(new Request(`http://x${path}`, { method: "POST", body }));
    assert.ok(res.status < 500, `${res.status} for ${path} ${body.slice(0, 200)}`);
    const text = await res.text();
    if (res.status >= 400) {
      const e = JSON.parse(text);
      assert.equal(
        typeof (path.startsWith("/v1/messages") ? e.error.message : e.error.message),
        "string",
      );
    }
  }
});

Deno.test("an all-failed answer names the endpoints that were not tried, and why", async () => {
  const { handler, seen } = setup(
    { "ollama.test": () => new Response("busy", { status: 503 }) },
    `
providers:
  ollama:
    api_base: http://ollama.test/v1
    models: [llama3.1]
  openai:
    api_base: http://openai.test/v1
    api_key: \${OPENAI_API_KEY}
models:
  smart:
    endpoints:
      - { provider: ollama, service_id: llama3.1 }
      - { provider: openai, service_id: gpt-4o-mini }
`,
  );
  const res = await handler(
    new Request("http://br.test/v1/chat/completions", {
      method: "POST",
      body: JSON.stringify({ model: "smart", messages: [{ role: "user", content: "hi" }] }),
    }),
  );
  assert.equal(res.status, 502);
  assert.equal(
    (await res.json()).error.message,
    'the only candidate for "smart" failed: ollama: 503 busy; ' +
      "not tried: openai (inactive: OPENAI_API_KEY unset)",
  );
  assert.deepEqual(seen.map((s) => new URL(s.url).host), ["ollama.test"]);
});
