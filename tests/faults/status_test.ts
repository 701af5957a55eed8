/**
 * Fault suite, upstreams that answer with a failure status or a broken whole answer: 429 with and
 * without Retry-After, a 500 HTML page, a 200 that is not JSON, 401 from one endpoint of a chain,
 * Ollama's 404 for a model it has not pulled, a 413, and a gzip-encoded answer (SPEC §5).
 */
import assert from "node:assert/strict";
import { type FakeUpstream, startFake } from "../fakes/upstream.ts";
import {
  chainBody,
  chainConfig,
  chatBody,
  faultTest,
  type InProcessRouter,
  post,
  sseEvents,
  startRouter,
} from "./harness.ts";

const OLLAMA_MODEL = "llama3.1";

/** Two Ollama fakes `a` (faulty) and `b` (healthy) behind the virtual model `chain`. */
async function withChain(
  fault: FakeUpstream["fault"],
  fn: (a: FakeUpstream, b: FakeUpstream, router: InProcessRouter) => Promise<void>,
  bFault: FakeUpstream["fault"] = { type: "none" },
): Promise<void> {
  const a = await startFake({ kind: "ollama" });
  const b = await startFake({ kind: "ollama" });
  a.fault = fault;
  b.fault = bFault;
  const router = await startRouter(chainConfig([
    { id: "a", apiBase: a.apiBase, model: OLLAMA_MODEL },
    { id: "b", apiBase: b.apiBase, model: OLLAMA_MODEL },
  ]));
  try {
    await fn(a, b, router);
  } finally {
    await router.close();
    await a.close();
    await b.close();
  }
}

async function status(router: InProcessRouter) {
  const res = await fetch(`${router.apiBase}/bitrouter/status`);
  return (await res.json()).endpoints as {
    provider: string;
    state: string;
    consecutive_failures: number;
    cooling_for_secs: number | null;
    last_error: string | null;
  }[];
}

faultTest(
  "429 with Retry-After: fail over, and the endpoint cools for that long (status shows it; the next request skips it)",
  async () => {
    await withChain(
      { type: "status", status: 429, headers: { "retry-after": "7" } },
      async (a, b, router) => {
        const res = await post(router, "/v1/chat/completions", chainBody());
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("x-bitrouter-provider"), "b");
        assert.equal(res.headers.get("x-bitrouter-attempts"), "2");
        await res.body?.cancel();
        const [entry] = await status(router);
        assert.equal(entry.provider, "a");
        assert.equal(entry.state, "cooling");
        assert.equal(entry.cooling_for_secs, 7);
        assert.equal(
          entry.last_error,
          "429 Rate limit reached for requests. Please try again in 1s.",
        );
        assert.match(router.warnings.join("\n"), /a llama3\.1: cooling down for 7s/);

        const again = await post(router, "/v1/chat/completions", chainBody());
        assert.equal(again.headers.get("x-bitrouter-provider"), "b");
        assert.equal(again.headers.get("x-bitrouter-attempts"), "1");
        await again.body?.cancel();
        assert.equal(a.requests.length, 1, "the cooling endpoint was called again");
        assert.equal(b.requests.length, 2);
      },
    );
  },
);

faultTest(
  "429 without Retry-After: fail over, but one 429 does not cool the endpoint",
  async () => {
    await withChain({ type: "status", status: 429 }, async (a, b, router) => {
      for (let i = 1; i <= 2; i++) {
        const res = await post(router, "/v1/chat/completions", chainBody());
        assert.equal(res.headers.get("x-bitrouter-provider"), "b");
        assert.equal(res.headers.get("x-bitrouter-attempts"), "2");
        await res.body?.cancel();
        const [entry] = await status(router);
        assert.deepEqual([entry.state, entry.consecutive_failures, entry.cooling_for_secs], [
          "healthy",
          i,
          null,
        ]);
      }
      assert.equal(a.requests.length, 2, "a was not tried first each time");
      assert.equal(b.requests.length, 2);
    });
  },
);

faultTest(
  "every endpoint 429: the answer is 429 with the shortest Retry-After, listing each",
  async () => {
    await withChain(
      { type: "status", status: 429, headers: { "retry-after": "5" } },
      async (_a, _b, router) => {
        const res = await post(router, "/v1/chat/completions", chainBody());
        assert.equal(res.status, 429);
        assert.equal(res.headers.get("retry-after"), "3");
        assert.equal(res.headers.get("x-bitrouter-attempts"), "2");
        const { error } = await res.json();
        assert.equal(error.type, "rate_limit_error");
        assert.equal(
          error.message,
          'all 2 candidates for "chain" failed: ' +
            "a: 429 Rate limit reached for requests. Please try again in 1s.; " +
            "b: 429 Rate limit reached for requests. Please try again in 1s.",
        );
        assert.deepEqual((await status(router)).map((e) => [e.provider, e.cooling_for_secs]), [
          ["a", 5],
          ["b", 3],
        ]);
      },
      { type: "status", status: 429, headers: { "retry-after": "3" } },
    );
  },
);

const HTML_500 = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>500 Internal Server Error</title>
<style>body { font-family: sans-serif; margin: 4em } h1 { color: #a00 }</style>
<script>window.onload = function () { report("500") }</script></head>
<body><h1>Internal Server Error</h1><p>The server encountered an internal error.</p></body></html>`;

faultTest(
  "500 with an HTML page: fail over; when nothing is left the message quotes its title, no HTML",
  async () => {
    await withChain({ type: "status", status: 500, body: HTML_500 }, async (a, b, router) => {
      const res = await post(router, "/v1/chat/completions", chainBody());
      assert.equal(res.headers.get("x-bitrouter-provider"), "b");
      await res.body?.cancel();
      assert.equal(a.requests.length, 1);
      assert.equal(b.requests.length, 1);

      b.fault = { type: "status", status: 502, body: "<html><body>Bad gateway</body></html>" };
      const failed = await post(router, "/v1/chat/completions", chainBody());
      assert.equal(failed.status, 502);
      const { error } = await failed.json();
      assert.equal(
        error.message,
        'all 2 candidates for "chain" failed: a: 500 Internal Server Error; b: 502 Bad gateway',
      );
    });
  },
);

faultTest(
  "200 with a body that is not JSON (cut off, or an HTML page): fail over; named when nothing is left",
  async () => {
    const cut =
      '{"id":"chatcmpl-1","object":"chat.completion","choices":[{"message":{"content":"Hel';
    await withChain({ type: "status", status: 200, body: cut }, async (a, b, router) => {
      const res = await post(router, "/v1/chat/completions", chainBody());
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-bitrouter-provider"), "b");
      assert.equal((await res.json()).choices[0].message.content, "Hello from ollama");
      assert.equal(a.requests.length, 1);

      b.fault = {
        type: "status",
        status: 200,
        body: "<html><body>Welcome to nginx!</body></html>",
      };
      const failed = await post(router, "/v1/chat/completions", chainBody());
      assert.equal(failed.status, 502);
      assert.equal(
        (await failed.json()).error.message,
        'all 2 candidates for "chain" failed: ' +
          "a: answered 200 with a body that is not JSON (application/json); " +
          "b: answered 200 with a body that is not JSON (text/html; charset=utf-8)",
      );
    });
  },
);

faultTest(
  "401 from one endpoint of a chain: the next is tried; the client's credentials reach neither",
  async () => {
    // `a` has an expired key; `b` is a local server that needs none, so nothing would hide a
    // client Authorization header passed through to it.
    const a = await startFake({ kind: "openai", apiKey: "sk-a-right" });
    const b = await startFake({ kind: "ollama" });
    const router = await startRouter(chainConfig([
      { id: "a", apiBase: a.apiBase, model: "gpt-4o-mini", extra: "api_key: sk-a-expired" },
      { id: "b", apiBase: b.apiBase, model: OLLAMA_MODEL },
    ]));
    const secrets = ["client-bearer-secret", "client-x-api-key-secret", "client-cookie-secret"];
    try {
      const res = await post(router, "/v1/chat/completions", chainBody(), {
        headers: {
          authorization: `Bearer ${secrets[0]}`,
          "x-api-key": secrets[1],
          cookie: `session=${secrets[2]}`,
        },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-bitrouter-provider"), "b");
      assert.equal(res.headers.get("x-bitrouter-attempts"), "2");
      await res.body?.cancel();
      assert.equal(a.requests.length, 1);
      assert.equal(a.requests[0].headers.get("authorization"), "Bearer sk-a-expired");
      assert.equal(b.requests[0].headers.get("authorization"), null);
      for (const r of [...a.requests, ...b.requests]) {
        for (const [name, value] of r.headers) {
          for (const secret of secrets) {
            assert.ok(!value.includes(secret), `client secret forwarded in ${name}`);
          }
        }
      }
    } finally {
      await router.close();
      await a.close();
      await b.close();
    }
  },
);

faultTest(
  "Ollama's 404 for a model not pulled: a virtual model fails over; a pin answers 404 with Ollama's reason",
  async () => {
    const ollama = await startFake({ kind: "ollama", models: ["llama3.1:latest"] });
    const b = await startFake({ kind: "ollama", models: ["mistral:7b"] });
    const router = await startRouter(chainConfig([
      { id: "ollama", apiBase: ollama.apiBase, model: "mistral:7b" },
      { id: "b", apiBase: b.apiBase, model: "mistral:7b" },
    ]));
    try {
      const res = await post(router, "/v1/chat/completions", chainBody());
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-bitrouter-provider"), "b");
      assert.equal(res.headers.get("x-bitrouter-attempts"), "2");
      await res.body?.cancel();
      assert.equal((ollama.requests[0].body as { model: string }).model, "mistral:7b");

      const pinned = await post(router, "/v1/chat/completions", chatBody("ollama:mistral:7b"));
      assert.equal(pinned.status, 404);
      assert.equal(pinned.headers.get("x-bitrouter-attempts"), "1");
      assert.deepEqual((await pinned.json()).error, {
        message:
          `the only candidate for "ollama:mistral:7b" failed: ollama: 404 model 'mistral:7b' not found`,
        type: "invalid_request_error",
        code: "model_not_found",
        param: null,
      });
      assert.equal(ollama.requests.length, 2);
      assert.equal(b.requests.length, 1, "a pin went elsewhere");
    } finally {
      await router.close();
      await ollama.close();
      await b.close();
    }
  },
);

faultTest("413 from the upstream is passed through unchanged, without failover", async () => {
  const body = '{"error":{"message":"prompt is too long: 210000 tokens > 200000","code":413}}';
  await withChain({
    type: "status",
    status: 413,
    body,
    headers: { "content-type": "application/json; charset=utf-8", "x-upstream-id": "u-1" },
  }, async (a, b, router) => {
    const res = await post(router, "/v1/chat/completions", chainBody());
    assert.equal(res.status, 413);
    assert.equal(await res.text(), body);
    assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
    assert.equal(res.headers.get("x-upstream-id"), "u-1");
    assert.equal(res.headers.get("x-bitrouter-provider"), "a");
    assert.equal(res.headers.get("x-bitrouter-attempts"), "1");
    assert.equal(a.requests.length, 1);
    assert.equal(b.requests.length, 0, "a 413 must not fail over");
  });
});

faultTest(
  "a gzip-encoded answer is decoded and re-sent without content-encoding or a stale content-length",
  async () => {
    await withChain({ type: "gzip" }, async (a, _b, router) => {
      const res = await post(router, "/v1/chat/completions", chainBody());
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-encoding"), null);
      const text = await res.text();
      const length = res.headers.get("content-length");
      assert.ok(length === null || Number(length) === text.length, `content-length ${length}`);
      assert.equal(JSON.parse(text).choices[0].message.content, "Hello from ollama");
      assert.equal(res.headers.get("x-bitrouter-provider"), "a", "the gzip answer was refused");

      const stream = await post(router, "/v1/chat/completions", chainBody({ stream: true }));
      assert.equal(stream.headers.get("content-encoding"), null);
      assert.equal(stream.headers.get("content-length"), null);
      const events = sseEvents(await stream.text());
      assert.equal(events.at(-1), "data: [DONE]");
      assert.equal(
        events.slice(0, -1).map((e) => JSON.parse(e.slice(6)).choices[0].delta.content ?? "").join(
          "",
        ),
        "Hello from ollama",
      );
      assert.equal(a.requests.length, 2);
    });
  },
);
