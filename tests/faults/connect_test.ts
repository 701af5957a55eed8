/**
 * Fault suite, before the answer starts: an upstream that refuses the connection, and one that
 * accepts it but never sends response headers (SPEC §5: fail over; 502 / 504 when all fail).
 */
import assert from "node:assert/strict";
import { refusedApiBase, startFake } from "../fakes/upstream.ts";
import { within } from "../e2e/helpers.ts";
import { chainBody, chainConfig, faultTest, post, startRouter } from "./harness.ts";

faultTest(
  "a refused connection fails over to the next endpoint, which serves the answer",
  async () => {
    const down = await refusedApiBase();
    const ollama = await startFake({ kind: "ollama" });
    const router = await startRouter(chainConfig([
      { id: "down", apiBase: down, model: "llama3.1" },
      { id: "ollama", apiBase: ollama.apiBase, model: "llama3.1" },
    ]));
    try {
      const res = await within(
        post(router, "/v1/chat/completions", chainBody()),
        3_000,
        "no answer",
      );
      assert.equal(res.status, 200);
      assert.equal((await res.json()).choices[0].message.content, "Hello from ollama");
      assert.equal(res.headers.get("x-bitrouter-provider"), "ollama");
      assert.equal(res.headers.get("x-bitrouter-attempts"), "2");
      assert.equal(ollama.requests.length, 1);
      assert.deepEqual(router.records.map((r) => [r.status, r.attempts]), [[200, 2]]);
    } finally {
      await router.close();
      await ollama.close();
    }
  },
);

faultTest(
  "a refused connection on the only candidate is a 502 that says the server is not running",
  async () => {
    const router = await startRouter(chainConfig([
      { id: "down", apiBase: await refusedApiBase(), model: "llama3.1" },
    ]));
    try {
      const res = await within(
        post(router, "/v1/chat/completions", chainBody()),
        3_000,
        "no answer",
      );
      assert.equal(res.status, 502);
      assert.equal(res.headers.get("x-bitrouter-attempts"), "1");
      assert.equal(res.headers.get("x-bitrouter-provider"), null);
      assert.deepEqual((await res.json()).error, {
        message:
          'the only candidate for "chain" failed: down: connection refused (is the server running?)',
        type: "upstream_error",
        code: "upstream_failed",
        param: null,
      });
    } finally {
      await router.close();
    }
  },
);

faultTest(
  "no response headers within first_byte_secs: the upstream is aborted and the next endpoint tried",
  async () => {
    const hung = await startFake({ kind: "ollama" });
    const next = await startFake({ kind: "vllm" });
    hung.fault = { type: "hang" };
    const router = await startRouter(chainConfig([
      { id: "hung", apiBase: hung.apiBase, model: "llama3.1" },
      { id: "next", apiBase: next.apiBase, model: "meta-llama/Llama-3.1-8B-Instruct" },
    ], { timeouts: "first_byte_secs: 0.3, idle_secs: 2" }));
    try {
      const aborted = hung.nextAbort();
      const res = await within(
        post(router, "/v1/chat/completions", chainBody()),
        3_000,
        "no answer",
      );
      assert.equal(res.status, 200);
      await res.body?.cancel();
      assert.equal(res.headers.get("x-bitrouter-provider"), "next");
      assert.equal(res.headers.get("x-bitrouter-attempts"), "2");
      const abortedAt = await within(aborted, 1_000, "the hung upstream never saw the abort");
      const waited = abortedAt - hung.requests[0].at;
      assert.ok(
        waited >= 280 && waited < 600,
        `hung upstream aborted after ${waited.toFixed(0)} ms`,
      );
      assert.equal(next.requests.length, 1);
      assert.ok(
        next.requests[0].at >= abortedAt - 20,
        "the next endpoint was tried before the abort",
      );
    } finally {
      await router.close();
      await hung.close();
      await next.close();
    }
  },
);

faultTest(
  "when every endpoint sends no headers within first_byte_secs the answer is 504 naming the limit",
  async () => {
    const a = await startFake({ kind: "ollama" });
    const b = await startFake({ kind: "ollama" });
    a.fault = b.fault = { type: "hang" };
    const router = await startRouter(chainConfig([
      { id: "a", apiBase: a.apiBase, model: "llama3.1" },
      { id: "b", apiBase: b.apiBase, model: "llama3.1" },
    ], { timeouts: "first_byte_secs: 0.2, idle_secs: 2" }));
    try {
      const res = await within(
        post(router, "/v1/chat/completions", chainBody()),
        3_000,
        "no answer",
      );
      assert.equal(res.status, 504);
      assert.equal(res.headers.get("x-bitrouter-attempts"), "2");
      const { error } = await res.json();
      assert.equal(error.code, "upstream_timeout");
      assert.equal(
        error.message,
        'all 2 candidates for "chain" failed: a: no response headers within 0.2s (first_byte_secs); ' +
          "b: no response headers within 0.2s (first_byte_secs)",
      );
      assert.equal(a.requests.length, 1);
      assert.equal(b.requests.length, 1);
      assert.ok(a.requests[0].abortedAt !== undefined, "a was never aborted");
      await router.idle();
    } finally {
      await router.close();
      await a.close();
      await b.close();
    }
  },
);
