/**
 * The dashboard's routes, called directly with `new Request(...)`: the page (no key, but the
 * Host/Origin guard), the status endpoint's dashboard fields, and the event stream's protocol and
 * bounds (issue 17).
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { buildRouteTable, type RouteTable } from "../../src/routing/route_table.ts";
import { createHandler } from "../../src/proxy/handler.ts";
import { silentLogger } from "../../src/observe/log.ts";
import type { RequestRecord } from "../../src/observe/log.ts";
import { RecentRequests } from "../../src/observe/recent_requests.ts";
import { usageOverviewOf } from "../../src/observe/usage_series.ts";
import { Routes } from "../../src/proxy/router.ts";
import { liveStatus, STATUS_PATH, statusRouteWith } from "../../src/proxy/routes/info.ts";
import { type EventLimits, EVENTS_PATH, eventsRoute } from "../../src/proxy/routes/events.ts";
import { DASHBOARD_CSP } from "../../src/proxy/routes/dashboard.ts";
import { forwardingRoute } from "../../src/proxy/routes/forwarding.ts";
import {
  shownApiBase,
  type StatusSources,
  virtualModelsOf,
} from "../../src/proxy/routes/overview.ts";
import { CapacityBook } from "../../src/routing/capacity.ts";
import { HealthBook } from "../../src/routing/health.ts";
import type { Provider } from "../../src/config/types.ts";

const KEY = "k-dashboard-0123456789";

const CONFIG = `
server: { skip_auth: false, api_keys: [${KEY}] }
health: { failures: 1, cooldown_secs: 60 }
providers:
  ollama:
    api_base: http://ollama.test/v1
    local: true
    models: [llama3.1]
  hosted:
    api_base: http://user:hunter2-secret@hosted.test/v1
    api_key: sk-upstream-secret-123
    models: [gpt-4o-mini]
  off:
    api_base: http://off.test/v1
    api_key: \${UNSET_KEY_FOR_TEST}
    models: [x]
models:
  smart:
    endpoints:
      - { provider: ollama, service_id: llama3.1 }
      - { provider: hosted, service_id: gpt-4o-mini }
      - { provider: off, service_id: x }
`;

function tableOf(config = CONFIG): RouteTable {
  return buildRouteTable(parseConfig(config, "/t.yaml", { env: () => undefined }));
}

const auth = { authorization: `Bearer ${KEY}` };

function record(id: string, extra: Partial<RequestRecord> = {}): RequestRecord {
  return {
    requestId: id,
    protocol: "chat_completions",
    model: "smart",
    provider: "hosted",
    upstreamModel: "gpt-4o-mini",
    attempts: 1,
    status: 200,
    streamed: false,
    ttfbMs: 12,
    totalMs: 30,
    usage: { input: 7, output: 5, cachedInput: null, cacheWrite: null, reasoning: null },
    costUsd: 0.0001,
    local: false,
    ...extra,
  };
}

/** A handler whose ollama answers 503 (so it cools) and hosted answers 200. */
function setup(sources: StatusSources = {}, endpoints?: Routes) {
  const table = tableOf();
  const handler = createHandler({
    routes: () => table,
    fetch: ((input: RequestInfo | URL) => {
      const url = new Request(input).url;
      if (url.includes("ollama.test")) {
        return Promise.resolve(new Response("busy", { status: 503 }));
      }
      return Promise.resolve(Response.json({
        id: "x",
        object: "chat.completion",
        created: 1,
        model: "gpt-4o-mini",
        choices: [{
          index: 0,
          message: { role: "assistant", content: "hi" },
          finish_reason: "stop",
        }],
        usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 },
      }));
    }) as typeof fetch,
    now: () => performance.now(),
    log: silentLogger,
    status: sources,
    endpoints,
  });
  return { handler, table };
}

async function chat(handler: (r: Request) => Promise<Response>, model = "smart") {
  const res = await handler(
    new Request("http://127.0.0.1/v1/chat/completions", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
    }),
  );
  await res.body?.cancel();
  return res;
}

Deno.test("the page, its script and style are served without a key, with a strict CSP", async () => {
  const { handler } = setup();
  for (
    const [path, type] of [
      ["/", "text/html"],
      ["/dashboard.js", "text/javascript"],
      ["/dashboard.css", "text/css"],
    ]
  ) {
    const res = await handler(new Request(`http://127.0.0.1:4356${path}`));
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get("content-type")!, new RegExp(`^${type}`));
    assert.equal(res.headers.get("content-security-policy"), DASHBOARD_CSP);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("referrer-policy"), "no-referrer");
    assert.equal(res.headers.get("cache-control"), "no-cache");
    const text = await res.text();
    if (path === "/") {
      assert.match(text, /<script src="\/dashboard\.js" defer><\/script>/);
      // Nothing from another host: every src and href is this server's own or data:.
      for (const m of text.matchAll(/(?:src|href)="([^"]*)"/g)) {
        assert.match(m[1], /^(\/|#|data:)/, `${m[1]} points elsewhere`);
      }
    }
  }
  const head = await handler(new Request("http://127.0.0.1/", { method: "HEAD" }));
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
});

Deno.test("the page keeps the Host and Origin rules of SPEC §11", async () => {
  const { handler } = setup();
  const rebinding = await handler(
    new Request("http://127.0.0.1/", { headers: { host: "evil.example:4356" } }),
  );
  assert.equal(rebinding.status, 403);
  assert.match(await rebinding.text(), /forbidden_host/);
  const foreign = await handler(
    new Request("http://127.0.0.1/", {
      headers: { host: "127.0.0.1:4356", origin: "https://evil.example" },
    }),
  );
  assert.equal(foreign.status, 403);
  assert.match(await foreign.text(), /forbidden_origin/);
  const own = await handler(
    new Request("http://127.0.0.1:4356/dashboard.js", {
      headers: { host: "127.0.0.1:4356", origin: "http://127.0.0.1:4356" },
    }),
  );
  assert.equal(own.status, 200);
  await own.body?.cancel();
});

Deno.test("status and events need the key when auth is on; the page does not", async () => {
  const { handler } = setup();
  for (const path of [STATUS_PATH, EVENTS_PATH]) {
    const res = await handler(new Request(`http://127.0.0.1${path}`));
    assert.equal(res.status, 401, path);
    await res.body?.cancel();
  }
  const post = await handler(new Request("http://127.0.0.1/", { method: "POST", body: "x" }));
  assert.equal(post.status, 405);
  await post.body?.cancel();
});

Deno.test("status shows providers without credentials, virtual models in the order tried now, recent requests and usage", async () => {
  const recent = new RecentRequests(3);
  const usage = usageOverviewOf(
    [{
      startMs: Math.floor(Date.now() / 3_600_000) * 3_600_000,
      requests: 2,
      localTokens: 10,
      hostedTokens: 12,
      hostedCostUsd: 0.5,
      savedUsd: 0.25,
    }],
    [],
    Date.now(),
  );
  const { handler } = setup({ recent, usage: () => Promise.resolve(usage) });
  // ollama fails once: it cools (failures: 1) and goes behind hosted.
  const res = await chat(handler);
  assert.equal(res.headers.get("x-bitrouter-provider"), "hosted");
  for (let i = 0; i < 5; i++) recent.push(record(`r${i}`), Date.now() + i);

  const status = await (await handler(
    new Request(`http://127.0.0.1${STATUS_PATH}`, { headers: auth }),
  )).json();
  const text = JSON.stringify(status);
  for (const secret of ["hunter2-secret", "sk-upstream-secret-123", KEY]) {
    assert.ok(!text.includes(secret), `${secret} leaked`);
  }
  // Existing fields unchanged.
  assert.equal(status.object, "bitrouter.status");
  assert.ok(Array.isArray(status.endpoints) && status.capacity);

  const byId = Object.fromEntries(
    status.providers.map((p: { id: string }) => [p.id, p]),
  );
  assert.equal(byId.hosted.api_base, "http://hosted.test/v1");
  assert.equal(byId.hosted.state, "up");
  assert.equal(byId.ollama.local, true);
  assert.equal(byId.off.state, "inactive");
  assert.match(byId.off.reason, /UNSET_KEY_FOR_TEST/);
  assert.deepEqual(byId.ollama.models, ["llama3.1"]);
  assert.ok(!Number.isNaN(Date.parse(byId.ollama.since)));

  const smart = status.virtual_models.find((v: { name: string }) => v.name === "smart");
  assert.deepEqual(
    smart.order.map((o: { provider: string; state: string }) => `${o.provider}:${o.state}`),
    ["hosted:healthy", "ollama:cooling", "off:skipped"],
  );
  assert.match(smart.order[1].reason, /cooling \d+s: 503/);

  assert.deepEqual(
    status.recent.map((r: { request_id: string }) => r.request_id),
    ["r4", "r3", "r2"],
    "newest first, at most the ring's size",
  );
  assert.equal(status.recent[0].input_tokens, 7);
  assert.equal(status.usage.hourly.length, 24);
  assert.equal(status.usage.daily.length, 30);
  assert.equal(status.usage.hourly[23].local_tokens, 10);
});

Deno.test("status without usage says null, and without a ring an empty recent list", async () => {
  const { handler } = setup();
  const status = await (await handler(
    new Request(`http://127.0.0.1${STATUS_PATH}`, { headers: auth }),
  )).json();
  assert.equal(status.usage, null);
  assert.deepEqual(status.recent, []);
});

/** Reads server-sent events from a body, one at a time. */
function eventReader(body: ReadableStream<Uint8Array>) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return {
    async next(): Promise<{ event: string; data: string } | undefined> {
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = block.split("\n").filter((l) => !l.startsWith(":"));
          if (lines.length === 0) continue;
          const event = lines.find((l) => l.startsWith("event: "))?.slice(7) ?? "message";
          const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join(
            "\n",
          );
          return { event, data };
        }
        const { value, done } = await reader.read();
        if (done) return undefined;
        buffer += value;
      }
    },
    raw: () => buffer,
    cancel: () => reader.cancel(),
    reader,
  };
}

const FAST: EventLimits = {
  maxSubscribers: 2,
  maxQueuedBytes: 2_000,
  statusEveryMs: 20,
  pingEveryMs: 50,
};

function eventsOnly(sources: StatusSources, limits = FAST) {
  const live = liveStatus(sources);
  return new Routes()
    .add(STATUS_PATH, statusRouteWith(live))
    .add(EVENTS_PATH, eventsRoute(live, sources, limits))
    .add(
      "/v1/chat/completions",
      forwardingRoute({ protocol: "chat_completions", style: "openai", requires: "messages" }),
    );
}

async function openEvents(handler: (r: Request) => Promise<Response>, signal?: AbortSignal) {
  const res = await handler(
    new Request(`http://127.0.0.1${EVENTS_PATH}`, { headers: auth, signal }),
  );
  return res;
}

Deno.test("events: the status at connect, each finished request as it finishes, a status change, pings", async () => {
  const recent = new RecentRequests();
  recent.push(record("before"), Date.now());
  const sources = { recent };
  const { handler } = setup(sources, eventsOnly(sources));
  const res = await openEvents(handler);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
  const events = eventReader(res.body!);
  const first = await events.next();
  assert.equal(first?.event, "status");
  const status = JSON.parse(first!.data);
  assert.equal(status.object, "bitrouter.status");
  assert.deepEqual(status.recent.map((r: { request_id: string }) => r.request_id), ["before"]);

  recent.push(
    record("after", {
      usage: { input: 3, output: 4, cachedInput: null, cacheWrite: null, reasoning: null },
    }),
    Date.now(),
  );
  const req = await events.next();
  assert.equal(req?.event, "request");
  const r = JSON.parse(req!.data);
  assert.equal(r.request_id, "after");
  assert.equal(r.output_tokens, 4);
  assert.equal(r.provider, "hosted");

  // A failure cools ollama: the next status event says so (and carries no `recent`).
  assert.equal((await chat(handler, "ollama:llama3.1")).status, 502);
  let changed;
  for (let e = await events.next(); e; e = await events.next()) {
    if (e.event !== "status") continue;
    changed = JSON.parse(e.data);
    if (changed.endpoints.some((x: { state: string }) => x.state === "cooling")) break;
  }
  assert.ok(changed, "no status event after the change");
  assert.equal(changed.recent, undefined);
  await events.cancel();
});

Deno.test("events: a ping comment keeps an idle stream open", async () => {
  const sources = {};
  const { handler } = setup(sources, eventsOnly(sources));
  const res = await openEvents(handler);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes(": ping\n\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  assert.match(text, /: ping\n\n/);
  await reader.cancel();
});

Deno.test("events: one stream more than the limit gets 503 with Retry-After", async () => {
  const sources = {};
  const { handler } = setup(sources, eventsOnly(sources));
  const a = await openEvents(handler);
  const b = await openEvents(handler);
  const c = await openEvents(handler);
  assert.equal(c.status, 503);
  assert.ok(Number(c.headers.get("retry-after")) > 0);
  await c.body?.cancel();
  await a.body!.cancel();
  // A closed stream frees its place.
  const d = await openEvents(handler);
  assert.equal(d.status, 200);
  await Promise.all([b.body!.cancel(), d.body!.cancel()]);
});

Deno.test("events: a client that stops reading is dropped once its queue is full", async () => {
  const recent = new RecentRequests();
  const sources = { recent };
  const { handler } = setup(sources, eventsOnly(sources, { ...FAST, pingEveryMs: 60_000 }));
  const res = await openEvents(handler);
  // Nothing is read: the status event and these fill the queue of 2,000 bytes, then the stream
  // is dropped.
  for (let i = 0; i < 10; i++) recent.push(record(`r${i}`), Date.now());
  const reader = res.body!.getReader();
  await assert.rejects(async () => {
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
  }, /stopped reading/);
  // The dropped stream no longer counts: two more may open.
  const [x, y] = [await openEvents(handler), await openEvents(handler)];
  assert.deepEqual([x.status, y.status], [200, 200]);
  await Promise.all([x.body!.cancel(), y.body!.cancel()]);
});

Deno.test("events: a stream whose first status is still being read when the stop begins is refused", async () => {
  const stopping = new AbortController();
  const gate = Promise.withResolvers<null>();
  const sources = { stopping: stopping.signal, usage: () => gate.promise };
  const { handler } = setup(sources, eventsOnly(sources));
  const opening = openEvents(handler);
  await new Promise((r) => setTimeout(r, 10));
  stopping.abort();
  gate.resolve(null);
  const res = await opening;
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "5");
  await res.body?.cancel();
});

Deno.test("events: streams end when the server begins to stop, and no new one opens", async () => {
  const stopping = new AbortController();
  const sources = { stopping: stopping.signal };
  const { handler } = setup(sources, eventsOnly(sources));
  const res = await openEvents(handler);
  const events = eventReader(res.body!);
  assert.equal((await events.next())?.event, "status");
  stopping.abort();
  assert.equal(await events.next(), undefined, "the stream ended");
  const late = await openEvents(handler);
  assert.equal(late.status, 503);
  await late.body?.cancel();
});

Deno.test("events: a client that goes away (request.signal) ends its stream and its timers", async () => {
  const recent = new RecentRequests();
  const sources = { recent };
  const { handler } = setup(sources, eventsOnly(sources));
  const gone = new AbortController();
  const res = await openEvents(handler, gone.signal);
  const reader = res.body!.getReader();
  await reader.read();
  gone.abort();
  // Ended: reading finishes (or fails) instead of waiting for the next ping; the test's op
  // sanitizer would catch a timer left running.
  const ended = await reader.read().then((r) => r.done, () => true);
  assert.ok(ended, "the stream goes on after its client left");
  recent.push(record("nobody listens"), Date.now());
  await reader.cancel().catch(() => {});
});

Deno.test("the page says whether it needs a key, so it asks before its first call", async () => {
  const { handler } = setup();
  assert.match(await (await handler(new Request("http://127.0.0.1/"))).text(), /data-auth="key"/);
  const open = createHandler({
    routes: () =>
      tableOf(CONFIG.replace(`skip_auth: false, api_keys: [${KEY}]`, "skip_auth: true")),
    fetch: fetch,
    now: () => performance.now(),
    log: silentLogger,
  });
  const page = await (await open(new Request("http://127.0.0.1/"))).text();
  assert.match(page, /data-auth="off"/);
  assert.ok(!page.includes(KEY));
});

Deno.test("deno compile embeds the dashboard: the compile task and release.yml --include its files", async () => {
  const root = new URL("../../", import.meta.url);
  const files = ["index.html", "dashboard.js", "dashboard.css"].map((f) =>
    `src/proxy/dashboard/${f}`
  );
  const { tasks } = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const release = await Deno.readTextFile(new URL(".github/workflows/release.yml", root));
  const step = release.slice(release.indexOf("deno compile"), release.indexOf("main.ts"));
  for (const file of files) {
    await Deno.stat(new URL(file, root));
    assert.ok(tasks.compile.includes(`--include ${file}`), `${file} not in the compile task`);
    assert.ok(step.includes(`--include ${file}`), `${file} not in release.yml`);
  }
});

Deno.test("events: streams opening at once still keep to the limit", async () => {
  // A slow first status (the usage store answering late) leaves every opening stream waiting.
  const gate = Promise.withResolvers<null>();
  const sources = { usage: () => gate.promise };
  const { handler } = setup(sources, eventsOnly(sources));
  const opening = [openEvents(handler), openEvents(handler), openEvents(handler)];
  await new Promise((resolve) => setTimeout(resolve, 10));
  gate.resolve(null);
  const answers = await Promise.all(opening);
  assert.deepEqual(answers.map((r) => r.status).sort(), [200, 200, 503]);
  await Promise.all(answers.map((r) => r.body?.cancel()));
});

Deno.test("an api_base is shown without user info, query or fragment, and without the provider's key", () => {
  const provider = (apiBase: string, apiKey?: string) =>
    ({ apiBase, apiKey, headers: {} }) as unknown as Provider;
  assert.equal(shownApiBase(provider("http://u:pw@h.test:8080/v1")), "http://h.test:8080/v1");
  assert.equal(
    shownApiBase(provider("https://h.test/v1/?key=tok-123&x=1#frag")),
    "https://h.test/v1/?…",
  );
  assert.equal(
    shownApiBase(provider("https://h.test/sk-path-secret-1234/v1", "sk-path-secret-1234")),
    "https://h.test/[redacted]/v1",
  );
  assert.equal(shownApiBase(provider("http://127.0.0.1:11434/v1")), "http://127.0.0.1:11434/v1");
});

Deno.test("virtual models show the order a request takes: under balance, the model already loaded first", () => {
  const table = tableOf(`
providers:
  gpu1: { api_base: "http://gpu1.test/v1", models: [m] }
  gpu2: { api_base: "http://gpu2.test/v1", models: [m] }
models:
  smart:
    strategy: balance
    endpoints: [{ provider: gpu1, service_id: m }, { provider: gpu2, service_id: m }]
`);
  // Equal load (none); gpu2 says it has the model in memory, so a request goes there first.
  (table.providers.get("gpu2") as { loaded?: readonly string[] }).loaded = ["m"];
  const capacity = new CapacityBook(() => 0);
  capacity.configure(table.providers.values());
  const health = new HealthBook(table.config.health, () => 0);
  const [smart] = virtualModelsOf(table, health, capacity);
  assert.deepEqual(smart.order.map((o) => o.provider), ["gpu2", "gpu1"]);
});
