/**
 * SPEC §11 through the real CLI, as an attacker would try it: a web page posting to the keyless
 * default setup, a DNS-rebinding page reading it under its own host name, model ids no header can
 * carry, and JSON nested past any stack. Raw HTTP where a browser's request must be imitated
 * byte for byte (its `Host`), fetch elsewhere.
 */
import assert from "node:assert/strict";
import { type FakeUpstream, startFake } from "../fakes/upstream.ts";
import { type FakeAnthropic, startFakeAnthropic } from "../fakes/anthropic.ts";
import { type RunningRouter, startRouter } from "./helpers.ts";

const ANTHROPIC_KEY = "sk-ant-security-0123456789";

interface Setup {
  up: FakeUpstream;
  claude: FakeAnthropic;
  router: RunningRouter;
}

async function withRouter(extra: string, body: (s: Setup) => Promise<void>): Promise<void> {
  const up = await startFake({ kind: "openai", models: ["模型", "llama🦙", "gpt-4o-mini"] });
  const claude = await startFakeAnthropic({ apiKey: ANTHROPIC_KEY });
  let router: RunningRouter | undefined;
  try {
    router = await startRouter({
      config: `
server: { skip_auth: true${extra} }
upstream: { timeouts: { first_byte_secs: 2, idle_secs: 1 } }
providers:
  up:
    api_base: ${up.apiBase}
    api_key: sk-up-secret-0123456789
    models: [gpt-4o-mini]
  claude:
    api_base: ${claude.apiBase}
    api_key: \${ANTHROPIC_API_KEY}
    api_protocol: messages
    models: [claude-sonnet-4-5]
`,
      env: { ANTHROPIC_API_KEY: ANTHROPIC_KEY },
    });
    await body({ up, claude, router });
  } finally {
    await router?.stop();
    await up.close();
    await claude.close();
  }
}

/** One HTTP/1.1 exchange over a raw socket, so `Host` and `Origin` are exactly what a browser sends. */
async function raw(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body = "",
): Promise<{ status: number; headers: Headers; body: string }> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    const bytes = new TextEncoder().encode(body);
    const head = [
      `${method} ${path} HTTP/1.1`,
      ...Object.entries({ ...headers, "content-length": String(bytes.length), connection: "close" })
        .map(([k, v]) => `${k}: ${v}`),
      "",
      "",
    ].join("\r\n");
    await conn.write(new TextEncoder().encode(head));
    if (bytes.length) await conn.write(bytes);
    const text = await new Response(conn.readable).text();
    const [top, ...rest] = text.split("\r\n\r\n");
    const lines = top.split("\r\n");
    const out = new Headers();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      out.append(l.slice(0, i).trim(), l.slice(i + 1).trim());
    }
    return { status: Number(lines[0].split(" ")[1]), headers: out, body: rest.join("\r\n\r\n") };
  } catch (e) {
    conn.close();
    throw e;
  }
}

const CHAT = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });

Deno.test("a web page's cross-origin text/plain POST is refused and nothing reaches the upstream", async () => {
  await withRouter("", async ({ up, router }) => {
    const host = new URL(router.url).host;
    const res = await raw(router.url, "POST", "/v1/chat/completions", {
      host,
      origin: "https://evil.example",
      "content-type": "text/plain;charset=UTF-8",
    }, CHAT);
    assert.equal(res.status, 403);
    assert.equal(res.headers.get("x-should-retry"), "false");
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.match(res.body, /server\.cors_origins/);
    assert.match(res.body, /"code":"forbidden_origin"/);
    // Anthropic's envelope on /v1/messages.
    const msg = await raw(router.url, "POST", "/v1/messages", {
      host,
      origin: "https://evil.example",
      "content-type": "text/plain",
    }, JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 5, messages: [] }));
    assert.equal(msg.status, 403);
    assert.equal(JSON.parse(msg.body).type, "error");
    assert.equal(up.requests.length, 0, "nothing was forwarded");
    // The same request without an Origin (a program, not a page) is served.
    const ok = await raw(router.url, "POST", "/v1/chat/completions", {
      host,
      "content-type": "application/json",
    }, CHAT);
    assert.equal(ok.status, 200);
    assert.equal(up.requests.length, 1);
  });
});

Deno.test("a DNS-rebinding Host is refused on every endpoint but /health, naming server.allowed_hosts", async () => {
  await withRouter(', allowed_hosts: ["bitrouter.lan"]', async ({ up, router }) => {
    const port = new URL(router.url).port;
    for (const path of ["/v1/models", "/v1/bitrouter/status", "/v1/models/gpt-4o-mini"]) {
      const res = await raw(router.url, "GET", path, { host: `evil.example:${port}` });
      assert.equal(res.status, 403, path);
      assert.match(res.body, /server\.allowed_hosts/);
      assert.doesNotMatch(res.body, /gpt-4o-mini|bitrouter\.yaml/, "nothing of the answer leaks");
    }
    const post = await raw(router.url, "POST", "/v1/chat/completions", {
      host: `evil.example:${port}`,
      "content-type": "application/json",
    }, CHAT);
    assert.equal(post.status, 403);
    assert.equal(up.requests.length, 0);
    const health = await raw(router.url, "GET", "/health", { host: `evil.example:${port}` });
    assert.equal(health.status, 200);
    // Loopback names, the listen address and allowed_hosts are served.
    for (
      const host of [`localhost:${port}`, `127.0.0.1:${port}`, `app.localhost`, "bitrouter.lan"]
    ) {
      const res = await raw(router.url, "GET", "/v1/models", { host });
      assert.equal(res.status, 200, host);
    }
  });
});

Deno.test("preflights: refused without cors_origins; answered for a listed origin, whose answers carry CORS and never the upstream's", async () => {
  const preflight = {
    origin: "http://localhost:3000",
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type, x-stainless-os",
  };
  await withRouter("", async ({ router }) => {
    const host = new URL(router.url).host;
    const res = await raw(router.url, "OPTIONS", "/v1/chat/completions", { host, ...preflight });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
  });
  await withRouter(', cors_origins: ["http://localhost:3000"]', async ({ up, router }) => {
    const host = new URL(router.url).host;
    const res = await raw(router.url, "OPTIONS", "/v1/chat/completions", { host, ...preflight });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), "http://localhost:3000");
    assert.match(res.headers.get("access-control-allow-methods")!, /POST/);
    assert.match(res.headers.get("access-control-allow-headers")!, /authorization/);
    assert.match(res.headers.get("access-control-allow-headers")!, /x-stainless-os/);
    // The page's real request: served, with CORS headers for that origin only.
    up.fault = {
      type: "status",
      status: 200,
      body: JSON.stringify({ object: "chat.completion", choices: [] }),
      headers: {
        "content-type": "application/json",
        "access-control-allow-origin": "*",
        "access-control-allow-credentials": "true",
      },
    };
    const post = await raw(router.url, "POST", "/v1/chat/completions", {
      host,
      origin: "http://localhost:3000",
      "content-type": "application/json",
    }, CHAT);
    assert.equal(post.status, 200);
    assert.equal(post.headers.get("access-control-allow-origin"), "http://localhost:3000");
    assert.equal(post.headers.get("access-control-allow-credentials"), null);
    assert.match(post.headers.get("access-control-expose-headers")!, /x-request-id/);
    // Another origin is still refused.
    const other = await raw(router.url, "POST", "/v1/chat/completions", {
      host,
      origin: "http://localhost:3001",
      "content-type": "text/plain",
    }, CHAT);
    assert.equal(other.status, 403);
    assert.equal(up.requests.length, 1);
  });
});

Deno.test("model ids outside Latin-1 are served on all three protocols, plain and streamed, never a 500", async () => {
  await withRouter("", async ({ router }) => {
    const bodies: [string, Record<string, unknown>][] = [
      ["/v1/chat/completions", { messages: [{ role: "user", content: "hi" }] }],
      ["/v1/messages", { max_tokens: 16, messages: [{ role: "user", content: "hi" }] }],
      ["/v1/responses", { input: "hi" }],
    ];
    for (const id of ["模型", "llama🦙"]) {
      for (const [path, body] of bodies) {
        for (const stream of [false, true]) {
          const res = await fetch(router.url + path, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ ...body, model: `up:${id}`, stream }),
          });
          const text = await res.text();
          const what = `${path} ${id} stream=${stream}`;
          assert.equal(res.status, 200, `${what}: ${text.slice(0, 200)}`);
          assert.equal(decodeURIComponent(res.headers.get("x-bitrouter-model")!), id, what);
          if (stream) assert.doesNotMatch(text, /event: error|response\.failed|"error":\{/, what);
        }
      }
    }
    assert.doesNotMatch(router.stderr(), /internal error|status=500/);
  });
});

Deno.test("JSON nested 100,000 deep is a 400 or passes through on every body shape, never a 500", async () => {
  await withRouter("", async ({ router }) => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    const cases: [string, string][] = [
      [
        "/v1/chat/completions",
        `{"model":"gpt-4o-mini","models":["claude-sonnet-4-5"],"messages":[{"role":"user","content":${deep}}]}`,
      ],
      [
        "/v1/responses",
        `{"model":"gpt-4o-mini","input":"hi","text":{"format":{"type":"json_schema","name":"x","schema":${deep}}}}`,
      ],
      ["/v1/responses", `{"model":"claude-sonnet-4-5","input":${deep}}`],
      [
        "/v1/messages",
        `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"t","input_schema":${deep}}]}`,
      ],
      [
        "/v1/messages/count_tokens",
        `{"model":"gpt-4o-mini","messages":[{"role":"user","content":${deep}}]}`,
      ],
      [
        "/v1/chat/completions",
        `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":${deep}}}}`,
      ],
      ["/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[],"extra":${deep}}`],
      [
        // A same-protocol stream whose body BitRouter rewrites to ask for usage.
        "/v1/chat/completions",
        `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":false},"messages":[],"extra":${deep}}`,
      ],
    ];
    for (const [path, body] of cases) {
      const res = await fetch(router.url + path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      const text = await res.text();
      assert.ok(
        res.status === 400 || res.status === 200,
        `${path}: ${res.status} ${text.slice(0, 200)}`,
      );
      if (res.status === 400) {
        assert.match(text, /more than 512 levels deep/);
        assert.equal(res.headers.get("x-should-retry"), "false");
      }
    }
    assert.doesNotMatch(router.stderr(), /internal error|status=500|Maximum call stack/);
  });
});
