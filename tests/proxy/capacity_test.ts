import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { buildRouteTable, type RouteTable } from "../../src/routing/route_table.ts";
import { createHandler } from "../../src/proxy/handler.ts";
import { createLogger, type Logger, silentLogger } from "../../src/observe/log.ts";
import { Drain } from "../../src/proxy/drain.ts";
import { CapacityBook } from "../../src/routing/capacity.ts";

/**
 * Capacity through the handler (SPEC §3.5), with a fake fetch whose hosts answer at once or hold
 * their answer until the test lets it go, so "in flight" is exact.
 */

type Route = (req: Request, signal: AbortSignal) => Promise<Response> | Response;

/** A host that holds every request until `release()`; counts what it got. */
function heldHost() {
  let open: Array<() => void> = [];
  let served = 0;
  const route: Route = (_req, signal) =>
    new Promise<Response>((resolve, reject) => {
      const done = () => {
        served++;
        resolve(Response.json({ object: "chat.completion", choices: [] }));
      };
      open.push(done);
      signal.addEventListener("abort", () => {
        open = open.filter((d) => d !== done);
        reject(signal.reason);
      }, { once: true });
    });
  return {
    route,
    get waiting() {
      return open.length;
    },
    get served() {
      return served;
    },
    release() {
      const all = open;
      open = [];
      for (const d of all) d();
    },
  };
}

const ok: Route = () => Response.json({ object: "chat.completion", choices: [] });

function setup(
  config: string,
  routes: Record<string, Route>,
  options: {
    now?: () => number;
    env?: Record<string, string>;
    drain?: Drain;
    log?: Logger;
  } = {},
) {
  const seen: { host: string; headers: Headers }[] = [];
  const fakeFetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    const body = await req.text();
    const host = new URL(req.url).host;
    seen.push({ host, headers: req.headers });
    const route = routes[host];
    if (!route) throw new TypeError("tcp connect error: Connection refused (os error 111)");
    return await route(
      new Request(req.url, { method: "POST", headers: req.headers, body }),
      init!.signal!,
    );
  };
  const now = options.now ?? (() => performance.now());
  const load = (text: string) =>
    buildRouteTable(parseConfig(text, "/t.yaml", { env: (k) => options.env?.[k] }));
  let table: RouteTable = load(config);
  const capacity = new CapacityBook(now);
  const handler = createHandler({
    routes: () => table,
    fetch: fakeFetch as typeof fetch,
    now,
    log: options.log ?? silentLogger,
    capacity,
    drain: options.drain,
  });
  return {
    handler,
    capacity,
    seen,
    reload(text: string) {
      table = load(text);
    },
  };
}

const chat = (
  body: Record<string, unknown>,
  init: { headers?: Record<string, string>; signal?: AbortSignal; path?: string } = {},
) =>
  new Request(`http://127.0.0.1:4356${init.path ?? "/v1/chat/completions"}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...init.headers },
    body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], ...body }),
    signal: init.signal,
  });

/** Resolves once `check` holds, polling each millisecond (up to 2 s). */
async function until(check: () => boolean, what: string): Promise<void> {
  const end = performance.now() + 2000;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

const SPILL = `
providers:
  local:
    api_base: http://local.test/v1
    max_concurrent: 2
    models: [qwen]
  hosted:
    api_base: http://hosted.test/v1
    models: [gpt-4o-mini]
models:
  smart:
    endpoints:
      - { provider: local, service_id: qwen }
      - { provider: hosted, service_id: gpt-4o-mini }
`;

Deno.test("spill-over: 8 simultaneous requests over [local with 2 slots, hosted] are 2 local and 6 hosted, and the headers say which", async () => {
  const local = heldHost();
  const { handler, capacity } = setup(SPILL, { "local.test": local.route, "hosted.test": ok });
  const pending = Array.from({ length: 8 }, () => handler(chat({ model: "smart" })));
  await until(() => local.waiting === 2, "two requests at the local server");
  // The hosted answers come back while the local slots are still held.
  const answered: Response[] = [];
  for (const p of pending) {
    const r = await Promise.race([
      p,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 50)),
    ]);
    if (r) answered.push(r);
  }
  assert.equal(answered.length, 6, "six answered without waiting for the local server");
  for (const r of answered) {
    assert.equal(r.headers.get("x-bitrouter-provider"), "hosted");
    assert.equal(r.headers.get("x-bitrouter-attempts"), "1", "busy is not an attempt");
    await r.body?.cancel();
  }
  local.release();
  const all = await Promise.all(pending);
  const by = all.map((r) => r.headers.get("x-bitrouter-provider"));
  assert.equal(by.filter((p) => p === "local").length, 2);
  assert.equal(by.filter((p) => p === "hosted").length, 6);
  for (const r of all) await r.body?.cancel();
  assert.equal(capacity.inFlight, 0);
  // Busy is no failure: the status shows no failure for the local endpoint.
  const status = await (await handler(new Request("http://127.0.0.1:4356/v1/bitrouter/status")))
    .json();
  assert.equal(
    status.endpoints.filter((e: { consecutive_failures: number }) => e.consecutive_failures > 0)
      .length,
    0,
  );
  assert.deepEqual(
    status.capacity.endpoints.find((e: { provider: string }) => e.provider === "local"),
    { provider: "local", in_flight: 0, max_concurrent: 2 },
  );
});

const ONE_SLOT = (queueSecs: number) => `
upstream: { timeouts: { queue_secs: ${queueSecs} } }
providers:
  local:
    api_base: http://local.test/v1
    max_concurrent: 1
    models: [qwen]
`;

Deno.test("every candidate busy: the request waits for the first free slot and says how long it waited", async () => {
  const local = heldHost();
  const { handler, capacity } = setup(ONE_SLOT(5), { "local.test": local.route });
  const first = handler(chat({ model: "qwen" }));
  await until(() => local.waiting === 1, "the first request upstream");
  const second = handler(chat({ model: "qwen" }));
  await until(() => capacity.queued === 1, "the second request queued");
  await new Promise((r) => setTimeout(r, 30));
  local.release();
  const a = await first;
  await a.body?.cancel();
  assert.equal(a.headers.get("x-bitrouter-queued-ms"), null, "the first never waited");
  await until(() => local.waiting === 1, "the second request upstream");
  local.release();
  const b = await second;
  await b.body?.cancel();
  assert.equal(b.status, 200);
  assert.ok(Number(b.headers.get("x-bitrouter-queued-ms")) >= 25, "it waited about 30 ms");
  assert.equal(capacity.inFlight, 0);
});

Deno.test("a queued request counts in the drain, and the end of the drain answers it 503 shutting_down", async () => {
  const local = heldHost();
  const drain = new Drain();
  const { handler, capacity } = setup(ONE_SLOT(30), { "local.test": local.route }, { drain });
  const first = handler(chat({ model: "qwen" }));
  await until(() => local.waiting === 1, "the first request upstream");
  const second = handler(chat({ model: "qwen" }));
  await until(() => capacity.queued === 1, "the second request queued");
  assert.equal(drain.size, 2, "one upstream request and one queued");
  drain.endAll();
  const [a, b] = await Promise.all([first, second]);
  assert.equal(b.status, 503);
  assert.equal((await b.json()).error.code, "shutting_down");
  await a.body?.cancel();
  assert.equal(capacity.queued, 0);
  assert.equal(capacity.inFlight, 0);
});

Deno.test("the request log line says how long a request was queued", async () => {
  const lines: string[] = [];
  const log = createLogger({ level: "info", format: "json", write: (l) => lines.push(l) });
  const local = heldHost();
  const { handler } = setup(ONE_SLOT(5), { "local.test": local.route }, { log });
  const first = handler(chat({ model: "qwen" }));
  await until(() => local.waiting === 1, "the first request upstream");
  const second = handler(chat({ model: "qwen" }));
  await new Promise((r) => setTimeout(r, 40));
  local.release();
  await (await first).body?.cancel();
  await until(() => local.waiting === 1, "the second request upstream");
  local.release();
  await (await second).body?.cancel();
  const records = lines.map((l) => JSON.parse(l)).filter((r) => r.status === 200);
  assert.equal(records.length, 2);
  assert.equal(records[0].queued_ms, undefined);
  assert.ok(records[1].queued_ms >= 35, `queued ${records[1].queued_ms} ms`);
});

Deno.test("the queue wait runs out: 503 overloaded with Retry-After, in the OpenAI and the Anthropic envelopes", async () => {
  const local = heldHost();
  const { handler, capacity } = setup(ONE_SLOT(0.15), { "local.test": local.route });
  const first = handler(chat({ model: "qwen" }));
  await until(() => local.waiting === 1, "the first request upstream");
  const started = performance.now();
  const res = await handler(chat({ model: "qwen" }));
  const waited = performance.now() - started;
  assert.ok(waited >= 140 && waited < 1000, `waited ${waited} ms for queue_secs 0.15`);
  assert.equal(res.status, 503);
  assert.ok(Number(res.headers.get("retry-after")) >= 1);
  const body = await res.json();
  assert.equal(body.error.code, "overloaded");
  assert.match(body.error.message, /local \(1\/1 in flight\)/);
  assert.match(body.error.message, /queue_secs/);
  const msg = await handler(
    chat({ model: "qwen", max_tokens: 10 }, { path: "/v1/messages" }),
  );
  assert.equal(msg.status, 503);
  const anthropic = await msg.json();
  assert.equal(anthropic.type, "error");
  assert.equal(anthropic.error.type, "overloaded_error");
  local.release();
  await (await first).body?.cancel();
  assert.equal(capacity.inFlight, 0);
  assert.equal(capacity.queued, 0);
});

Deno.test("a client that leaves while queued leaves the queue at once", async () => {
  const local = heldHost();
  const { handler, capacity } = setup(ONE_SLOT(30), { "local.test": local.route });
  const first = handler(chat({ model: "qwen" }));
  await until(() => local.waiting === 1, "the first request upstream");
  const leaving = new AbortController();
  const second = handler(chat({ model: "qwen" }, { signal: leaving.signal }));
  await until(() => capacity.queued === 1, "the second request queued");
  const abortedAt = performance.now();
  leaving.abort();
  const res = await second;
  assert.ok(performance.now() - abortedAt < 150, "answered within SPEC §5's 100 ms and a tick");
  assert.equal(res.status, 499);
  assert.equal(capacity.queued, 0);
  local.release();
  await (await first).body?.cancel();
  assert.equal(local.served, 1, "the request that left was never sent");
  assert.equal(capacity.inFlight, 0);
});

const BALANCED = `
providers:
  a:
    api_base: http://a.test/v1
    max_concurrent: 2
    models: [qwen]
  b:
    api_base: http://b.test/v1
    max_concurrent: 2
    models: [qwen]
models:
  smart:
    strategy: balance
    endpoints:
      - { provider: a, service_id: qwen }
      - { provider: b, service_id: qwen }
`;

Deno.test("balance: 4 simultaneous requests over two servers of 2 slots are 2 and 2", async () => {
  const a = heldHost();
  const b = heldHost();
  const { handler, capacity } = setup(BALANCED, { "a.test": a.route, "b.test": b.route });
  const pending = Array.from(
    { length: 4 },
    (_, i) => handler(chat({ model: "smart", messages: [{ role: "user", content: `q${i}` }] })),
  );
  await until(() => a.waiting + b.waiting === 4, "four requests upstream");
  assert.equal(a.waiting, 2);
  assert.equal(b.waiting, 2);
  a.release();
  b.release();
  for (const r of await Promise.all(pending)) await r.body?.cancel();
  assert.equal(capacity.inFlight, 0);
});

Deno.test("balance: 40 sequential requests are about 20 on each server", async () => {
  const hits = { a: 0, b: 0 };
  const { handler } = setup(BALANCED, {
    "a.test": () => (hits.a++, ok(new Request("http://x"), new AbortController().signal)),
    "b.test": () => (hits.b++, ok(new Request("http://x"), new AbortController().signal)),
  });
  for (let i = 0; i < 40; i++) {
    const r = await handler(
      chat({ model: "smart", messages: [{ role: "user", content: `${i}` }] }),
    );
    await r.body?.cancel();
  }
  assert.ok(Math.abs(hits.a - hits.b) <= 2, `a ${hits.a}, b ${hits.b}`);
});

Deno.test("a bare-name cascade is balanced with upstream.cascade_strategy: balance, and not by default", async () => {
  const cascade = (strategy: string) => `
upstream: { cascade_strategy: ${strategy} }
providers:
  a: { api_base: "http://a.test/v1", models: [qwen] }
  b: { api_base: "http://b.test/v1", models: [qwen] }
`;
  for (const [strategy, expectB] of [["priority", false], ["balance", true]] as const) {
    const hits = { a: 0, b: 0 };
    const { handler } = setup(cascade(strategy), {
      "a.test": () => (hits.a++, Response.json({})),
      "b.test": () => (hits.b++, Response.json({})),
    });
    for (let i = 0; i < 10; i++) {
      const r = await handler(
        chat({ model: "qwen", messages: [{ role: "user", content: `${i}` }] }),
      );
      await r.body?.cancel();
    }
    assert.equal(hits.b > 0, expectB, `${strategy}: a ${hits.a}, b ${hits.b}`);
  }
});

Deno.test("affinity: a conversation's next turn goes back to the server of its last turn while it has a free slot", async () => {
  const hits: string[] = [];
  const { handler } = setup(BALANCED, {
    "a.test": () => (hits.push("a"), Response.json({})),
    "b.test": () => (hits.push("b"), Response.json({})),
  });
  const turn1 = [{ role: "system", content: "be brief" }, { role: "user", content: "plan a trip" }];
  const other = [{ role: "user", content: "something else" }];
  let r = await handler(chat({ model: "smart", messages: turn1 }));
  await r.body?.cancel();
  const first = hits.at(-1);
  r = await handler(chat({ model: "smart", messages: other }));
  await r.body?.cancel();
  assert.notEqual(hits.at(-1), first, "another conversation is balanced elsewhere");
  for (let turn = 2; turn <= 5; turn++) {
    r = await handler(chat({
      model: "smart",
      messages: [...turn1, { role: "assistant", content: "ok" }, {
        role: "user",
        content: `turn ${turn}`,
      }],
    }));
    await r.body?.cancel();
    assert.equal(hits.at(-1), first, `turn ${turn} stays on ${first}`);
  }
  // The session header keeps a conversation together whatever its messages.
  r = await handler(chat({ model: "smart" }, { headers: { "x-bitrouter-session": "s1" } }));
  await r.body?.cancel();
  const sessionAt = hits.at(-1);
  for (let i = 0; i < 3; i++) {
    r = await handler(chat({ model: "smart", messages: [{ role: "user", content: `m${i}` }] }, {
      headers: { "x-bitrouter-session": "s1" },
    }));
    await r.body?.cancel();
    assert.equal(hits.at(-1), sessionAt);
  }
});

Deno.test("affinity yields to capacity: a busy server of the last turn does not hold the next one", async () => {
  const a = heldHost();
  const hits = { b: 0 };
  const { handler, capacity } = setup(BALANCED.replace(/max_concurrent: 2/g, "max_concurrent: 1"), {
    "a.test": a.route,
    "b.test": () => (hits.b++, Response.json({})),
  });
  const convo = [{ role: "user", content: "long chat" }];
  // Turn 1 lands on a (declared first); it is still running when turn 2 comes.
  const t1 = handler(chat({ model: "smart", messages: convo }));
  await until(() => a.waiting === 1, "turn 1 at a");
  const t2 = await handler(
    chat({ model: "smart", messages: [...convo, { role: "user", content: "2" }] }),
  );
  await t2.body?.cancel();
  assert.equal(t2.headers.get("x-bitrouter-provider"), "b");
  a.release();
  await (await t1).body?.cancel();
  assert.equal(capacity.inFlight, 0);
});

const ACCOUNTS = (strategy: string) => `
providers:
  openai:
    api_base: http://openai.test/v1
    models: [gpt-4o-mini]
    accounts:
      - { api_key: "\${KEY_A}", label: a }
      - { api_key: "\${KEY_B}", label: b }
    account_strategy: ${strategy}
`;

Deno.test("accounts under failover: the first account serves; a 429 on it cools that account only, and its key never shows", async () => {
  let limited = true;
  const keys: string[] = [];
  const { handler, seen } = setup(ACCOUNTS("failover"), {
    "openai.test": (req) => {
      const auth = req.headers.get("authorization") ?? "";
      keys.push(auth);
      return limited && auth === "Bearer sk-aaa"
        ? new Response(JSON.stringify({ error: { message: "rate limited" } }), {
          status: 429,
          headers: { "retry-after": "30" },
        })
        : Response.json({ object: "chat.completion", choices: [] });
    },
  }, { env: { KEY_A: "sk-aaa", KEY_B: "sk-bbb" } });
  // The fake fetch builds the upstream request itself; what it saw is what was sent.
  const r1 = await handler(chat({ model: "gpt-4o-mini" }));
  assert.equal(r1.status, 200);
  assert.equal(r1.headers.get("x-bitrouter-provider"), "openai#b");
  assert.equal(r1.headers.get("x-bitrouter-attempts"), "2");
  const text = await r1.text();
  assert.ok(!text.includes("sk-"));
  assert.deepEqual(seen.map((s) => s.headers.get("authorization")), [
    "Bearer sk-aaa",
    "Bearer sk-bbb",
  ]);
  // a is cooling (Retry-After): the next request goes to b first.
  limited = false;
  const r2 = await handler(chat({ model: "gpt-4o-mini" }));
  await r2.body?.cancel();
  assert.equal(r2.headers.get("x-bitrouter-provider"), "openai#b");
  assert.equal(r2.headers.get("x-bitrouter-attempts"), "1");
  const status = await (await handler(new Request("http://127.0.0.1:4356/v1/bitrouter/status")))
    .text();
  assert.match(status, /openai#a/);
  assert.ok(!status.includes("sk-aaa") && !status.includes("sk-bbb"), "keys never in status");
  void keys;
});

Deno.test("accounts under balance: requests alternate over the accounts", async () => {
  const used: string[] = [];
  const { handler } = setup(ACCOUNTS("balance"), {
    "openai.test": (req) => {
      used.push(req.headers.get("authorization") ?? "");
      return Response.json({});
    },
  }, { env: { KEY_A: "sk-aaa", KEY_B: "sk-bbb" } });
  for (let i = 0; i < 6; i++) {
    const r = await handler(chat({ model: "gpt-4o-mini" }));
    await r.body?.cancel();
  }
  assert.equal(used.filter((k) => k === "Bearer sk-aaa").length, 3);
  assert.equal(used.filter((k) => k === "Bearer sk-bbb").length, 3);
});

Deno.test("rate_limits: requests_per_minute spills to the next candidate and comes back a minute later (injected clock)", async () => {
  let offset = 0;
  const now = () => performance.now() + offset;
  const config = `
upstream: { timeouts: { queue_secs: 0 } }
providers:
  local:
    api_base: http://local.test/v1
    rate_limits:
      - "*": { requests_per_minute: 2 }
    models: [qwen]
  hosted:
    api_base: http://hosted.test/v1
    models: [gpt]
models:
  smart:
    endpoints:
      - { provider: local, service_id: qwen }
      - { provider: hosted, service_id: gpt }
`;
  const { handler } = setup(config, { "local.test": ok, "hosted.test": ok }, { now });
  const served = async () => {
    const r = await handler(chat({ model: "smart" }));
    await r.body?.cancel();
    return r.headers.get("x-bitrouter-provider");
  };
  assert.deepEqual([await served(), await served(), await served()], ["local", "local", "hosted"]);
  // Pinned to the limited server alone, over its window: 503 at once (queue_secs 0).
  const pinned = await handler(chat({ model: "local:qwen" }));
  assert.equal(pinned.status, 503);
  assert.match((await pinned.json()).error.message, /2\/2 requests this minute/);
  offset += 61_000;
  assert.equal(await served(), "local");
});

Deno.test("rate_limits: tokens_per_minute counts the request's estimated tokens", async () => {
  let offset = 0;
  const now = () => performance.now() + offset;
  const config = `
providers:
  local:
    api_base: http://local.test/v1
    rate_limits:
      - "*": { tokens_per_minute: 1000 }
    models: [qwen]
  hosted:
    api_base: http://hosted.test/v1
    models: [gpt]
models:
  smart:
    endpoints:
      - { provider: local, service_id: qwen }
      - { provider: hosted, service_id: gpt }
`;
  const { handler } = setup(config, { "local.test": ok, "hosted.test": ok }, { now });
  const served = async (maxTokens: number) => {
    const r = await handler(chat({ model: "smart", max_tokens: maxTokens }));
    await r.body?.cancel();
    return r.headers.get("x-bitrouter-provider");
  };
  assert.equal(await served(600), "local");
  assert.equal(await served(300), "local", "about 930 of 1000 tokens");
  assert.equal(await served(300), "hosted", "over the minute's budget");
  offset += 61_000;
  assert.equal(await served(300), "local");
});

Deno.test("a reload that changes caps mid-load: running requests keep their slots, new caps apply to the next", async () => {
  const local = heldHost();
  const { handler, capacity, reload } = setup(
    ONE_SLOT(5).replace("max_concurrent: 1", "max_concurrent: 2"),
    {
      "local.test": local.route,
    },
  );
  const running = [handler(chat({ model: "qwen" })), handler(chat({ model: "qwen" }))];
  await until(() => local.waiting === 2, "two requests upstream");
  const queued = handler(chat({ model: "qwen" }));
  await until(() => capacity.queued === 1, "the third request queued");
  // Raised to 3: the next request through the handler applies it, and the queued one gets in.
  reload(ONE_SLOT(5).replace("max_concurrent: 1", "max_concurrent: 3"));
  const status = await handler(new Request("http://127.0.0.1:4356/v1/bitrouter/status"));
  await status.body?.cancel();
  await until(() => local.waiting === 3, "the queued request upstream");
  // Lowered to 1 with 3 in flight: nothing new starts until they are down to 0.
  reload(ONE_SLOT(0.05));
  const refused = await handler(chat({ model: "qwen" }));
  assert.equal(refused.status, 503);
  await refused.body?.cancel();
  local.release();
  for (const r of await Promise.all([...running, queued])) await r.body?.cancel();
  assert.equal(capacity.inFlight, 0);
  const after = handler(chat({ model: "qwen" }));
  await until(() => local.waiting === 1, "a request under the new cap");
  local.release();
  await (await after).body?.cancel();
  assert.equal(capacity.inFlight, 0);
});

Deno.test("slot counts return to zero after a mixed load: answers, failures, streams cut short, clients gone, queue timeouts", async () => {
  const config = `
upstream: { timeouts: { queue_secs: 0.1, first_byte_secs: 2 } }
providers:
  local:
    api_base: http://local.test/v1
    max_concurrent: 3
    models: [qwen]
  flaky:
    api_base: http://flaky.test/v1
    max_concurrent: 2
    models: [qwen]
models:
  smart:
    strategy: balance
    endpoints:
      - { provider: local, service_id: qwen }
      - { provider: flaky, service_id: qwen }
`;
  let n = 0;
  const stream = () =>
    new Response(
      new ReadableStream({
        async pull(c) {
          await new Promise((r) => setTimeout(r, 5));
          c.enqueue(new TextEncoder().encode('data: {"choices":[]}\n\n'));
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    );
  const slow: Route = (_req, signal) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => resolve(Response.json({})), 20 + (n % 5) * 10);
      signal.addEventListener("abort", () => {
        clearTimeout(t);
        reject(signal.reason);
      });
    });
  const { handler, capacity } = setup(config, {
    "local.test": (req, signal) => (n++ % 4 === 0 ? stream() : slow(req, signal)),
    "flaky.test": (req, signal) =>
      n++ % 3 === 0 ? new Response("boom", { status: 500 }) : slow(req, signal),
  });
  const jobs = Array.from({ length: 60 }, async (_, i) => {
    const leave = new AbortController();
    const streamed = i % 4 === 0;
    const res = handler(
      chat({ model: "smart", stream: streamed, messages: [{ role: "user", content: `${i}` }] }, {
        signal: leave.signal,
      }),
    );
    if (i % 5 === 1) setTimeout(() => leave.abort(), 5 + (i % 3) * 10);
    const r = await res;
    if (r.body && streamed) {
      const reader = r.body.getReader();
      await reader.read().catch(() => {});
      await reader.cancel().catch(() => {});
    } else await r.body?.cancel().catch(() => {});
    return r.status;
  });
  const statuses = await Promise.all(jobs);
  assert.ok(statuses.includes(200), "some were answered");
  assert.ok(statuses.some((s) => s !== 200), "and some were not");
  await until(() => capacity.inFlight === 0 && capacity.queued === 0, "every slot released");
});
