/**
 * Fault suite, slowloris: clients that send their request body slowly or stall it get 408 in
 * their protocol's envelope once `server.body_timeout_secs` has passed since the headers, and
 * clients that hold connections with half-sent headers or bodies do not slow anyone else.
 *
 * What Deno.serve (Deno 2.9.6) does about slow *headers*: nothing. A connection that never
 * completes its request headers is held open with no time limit (observed: 70 s, then the test
 * gave up), hyper's header timeout is not enabled, and no Deno.serve option sets one; the handler
 * is only called once the headers are complete, so BitRouter cannot see such a connection at
 * all. Each costs a file descriptor and ~14 KiB (5,000 held: RSS 39 → 109 MiB, and a normal
 * request still answered in 9 ms). When the process runs out of descriptors, Deno.serve's accept
 * loop fails with EMFILE and `finished` rejects; `bitrouter serve` then listens again
 * (descriptors_test.ts). The systemd unit's LimitNOFILE=65536 bounds that; a public deployment
 * needs a reverse proxy with header timeouts in front (nginx `client_header_timeout`).
 */
import assert from "node:assert/strict";
import { startFake } from "../fakes/upstream.ts";
import { within } from "../e2e/helpers.ts";
import {
  chainBody,
  chainConfig,
  faultTest,
  type InProcessRouter,
  post,
  startRouter,
} from "./harness.ts";

const encoder = new TextEncoder();

/** A raw client that sends the headers and `sent` bytes of a `declared`-byte body, then stalls. */
async function stallingClient(
  router: InProcessRouter,
  path: string,
  body: string,
  o: { declared?: number; sent: number },
): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.port });
  await conn.write(encoder.encode(
    `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
      `content-length: ${o.declared ?? body.length}\r\n\r\n${body.slice(0, o.sent)}`,
  ));
  return conn;
}

/** Reads one whole HTTP response (headers and a content-length body) from a raw connection. */
async function readResponse(conn: Deno.TcpConn) {
  const buffer = new Uint8Array(64 * 1024);
  let text = "";
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) continue;
    const length = Number(text.slice(0, end).match(/content-length: (\d+)/i)?.[1] ?? 0);
    if (text.length >= end + 4 + length) break;
  }
  const [head, body] = [text.slice(0, text.indexOf("\r\n\r\n")), text.split("\r\n\r\n")[1]];
  const lines = head.split("\r\n");
  const headers = new Headers(
    lines.slice(1).map((l) => {
      const i = l.indexOf(":");
      return [l.slice(0, i).trim(), l.slice(i + 1).trim()] as [string, string];
    }),
  );
  return { status: Number(lines[0].split(" ")[1]), headers, body: JSON.parse(body) };
}

async function withRouter(
  fn: (router: InProcessRouter) => Promise<void>,
  upstreamRequests = 0,
): Promise<void> {
  const ollama = await startFake({ kind: "ollama" });
  const router = await startRouter(chainConfig([
    { id: "ollama", apiBase: ollama.apiBase, model: "llama3.1" },
  ], { server: "body_timeout_secs: 0.4" }));
  try {
    await fn(router);
    assert.equal(ollama.requests.length, upstreamRequests, "requests that reached the upstream");
  } finally {
    await router.close();
    await ollama.close();
  }
}

faultTest(
  "a client that stalls its body gets 408 in the OpenAI envelope once body_timeout_secs has passed",
  async () => {
    await withRouter(async (router) => {
      const body = JSON.stringify(chainBody());
      const started = performance.now();
      const conn = await stallingClient(router, "/v1/chat/completions", body, { sent: 20 });
      try {
        const res = await within(readResponse(conn), 2_000, "no answer to a stalled body");
        const took = performance.now() - started;
        assert.ok(took >= 380 && took < 1_000, `answered after ${took.toFixed(0)} ms`);
        assert.equal(res.status, 408);
        assert.match(res.headers.get("connection") ?? "", /\bclose\b/);
        assert.deepEqual(res.body.error, {
          message:
            "the request body did not arrive within 0.4s (server.body_timeout_secs); send the body at once, or raise server.body_timeout_secs",
          type: "invalid_request_error",
          code: "request_timeout",
          param: null,
        });
        assert.deepEqual(router.records.map((r) => r.status), [408]);
      } finally {
        conn.close();
      }
      await router.idle();
    });
  },
);

faultTest(
  "a client that stalls its body on /v1/messages gets 408 in Anthropic's envelope",
  async () => {
    await withRouter(async (router) => {
      const body = JSON.stringify({ ...chainBody(), max_tokens: 16 });
      const conn = await stallingClient(router, "/v1/messages", body, { sent: 20 });
      try {
        const res = await within(readResponse(conn), 2_000, "no answer to a stalled body");
        assert.equal(res.status, 408);
        assert.equal(res.body.type, "error");
        assert.equal(res.body.error.type, "api_error");
        assert.match(res.body.error.message, /did not arrive within 0\.4s/);
      } finally {
        conn.close();
      }
    });
  },
);

faultTest(
  "a large body (over the fast path) that stalls gets 408 at the deadline too",
  async () => {
    await withRouter(async (router) => {
      const body = JSON.stringify(chainBody({ pad: "x".repeat(200_000) }));
      const conn = await stallingClient(router, "/v1/chat/completions", body, { sent: 100_000 });
      try {
        const res = await within(readResponse(conn), 2_000, "no answer to a stalled body");
        assert.equal(res.status, 408);
        assert.equal(res.body.error.code, "request_timeout");
      } finally {
        conn.close();
      }
    });
  },
);

faultTest(
  "a client that keeps dripping its body is cut at body_timeout_secs: the limit is on the whole body",
  async () => {
    await withRouter(async (router) => {
      const body = JSON.stringify(chainBody());
      const conn = await stallingClient(router, "/v1/chat/completions", body, { sent: 0 });
      let dripping = true;
      const drip = (async () => {
        for (let i = 0; dripping && i < body.length - 1; i++) {
          await conn.write(encoder.encode(body[i]));
          await new Promise((resolve) => setTimeout(resolve, 30));
        }
      })().catch(() => {});
      try {
        const started = performance.now();
        const res = await within(readResponse(conn), 2_000, "no answer to a dripping body");
        assert.equal(res.status, 408);
        assert.ok(performance.now() - started < 800, "the drip kept the request alive");
      } finally {
        dripping = false;
        await drip;
        conn.close();
      }
    });
  },
);

faultTest("a body that arrives in pieces within body_timeout_secs is served as usual", async () => {
  await withRouter(async (router) => {
    const body = JSON.stringify(chainBody());
    const conn = await stallingClient(router, "/v1/chat/completions", body, { sent: 10 });
    try {
      await new Promise((resolve) => setTimeout(resolve, 150));
      await conn.write(encoder.encode(body.slice(10)));
      const res = await within(readResponse(conn), 2_000, "no answer");
      assert.equal(res.status, 200);
      assert.equal(res.body.choices[0].message.content, "Hello from ollama");
    } finally {
      conn.close();
    }
  }, 1);
});

faultTest(
  "clients holding half-sent headers and stalled bodies do not delay a normal request",
  async () => {
    await withRouter(async (router) => {
      const hostile: Deno.TcpConn[] = [];
      try {
        for (let i = 0; i < 100; i++) {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.port });
          await conn.write(
            encoder.encode("POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"),
          );
          hostile.push(conn);
        }
        const body = JSON.stringify(chainBody());
        for (let i = 0; i < 50; i++) {
          hostile.push(await stallingClient(router, "/v1/chat/completions", body, { sent: 5 }));
        }
        // A normal request while all of them hold their connections: answered at once, not after
        // the 0.4 s body deadline of the stalled ones.
        const started = performance.now();
        const health = await fetch(`${router.url}/health`);
        assert.equal(health.status, 200);
        await health.body?.cancel();
        const took = performance.now() - started;
        assert.ok(took < 300, `a normal request took ${took.toFixed(0)} ms`);
      } finally {
        for (const conn of hostile) conn.close();
      }
    });
  },
);

faultTest("a normal chat request is served while slow clients stall beside it", async () => {
  const ollama = await startFake({ kind: "ollama" });
  const router = await startRouter(chainConfig([
    { id: "ollama", apiBase: ollama.apiBase, model: "llama3.1" },
  ], { server: "body_timeout_secs: 0.4" }));
  const hostile: Deno.TcpConn[] = [];
  try {
    const body = JSON.stringify(chainBody());
    for (let i = 0; i < 50; i++) {
      hostile.push(await stallingClient(router, "/v1/chat/completions", body, { sent: 5 }));
    }
    const started = performance.now();
    const res = await post(router, "/v1/chat/completions", chainBody());
    assert.equal(res.status, 200);
    assert.equal((await res.json()).choices[0].message.content, "Hello from ollama");
    const took = performance.now() - started;
    assert.ok(took < 300, `the normal request took ${took.toFixed(0)} ms`);
    assert.equal(ollama.requests.length, 1);
  } finally {
    for (const conn of hostile) conn.close();
    await router.close();
    await ollama.close();
  }
});
