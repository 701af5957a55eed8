/**
 * Fault suite, once the answer has started: an upstream that sends its headers then nothing, one
 * that dies after a few chunks, and one that drips its answer a byte at a time (SPEC §5: a
 * stream that breaks or stalls ends with the client protocol's error event, never a clean end;
 * a whole answer that breaks can still fail over, since nothing reached the client yet).
 */
import assert from "node:assert/strict";
import { startFake } from "../fakes/upstream.ts";
import { within } from "../e2e/helpers.ts";
import { chainBody, chainConfig, faultTest, post, sseEvents, startRouter } from "./harness.ts";

const OLLAMA_MODEL = "llama3.1";

faultTest(
  "headers then silence on a stream: after idle_secs the client gets the error event and the upstream is aborted",
  async () => {
    const silent = await startFake({ kind: "ollama" });
    silent.fault = { type: "headers_then_silence" };
    const router = await startRouter(chainConfig([
      { id: "silent", apiBase: silent.apiBase, model: OLLAMA_MODEL },
    ], { timeouts: "first_byte_secs: 2, idle_secs: 0.3" }));
    try {
      const aborted = silent.nextAbort();
      const started = performance.now();
      const res = await post(router, "/v1/chat/completions", chainBody({ stream: true }));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-bitrouter-provider"), "silent");
      assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
      const text = await within(res.text(), 3_000, "the stream never ended");
      const took = performance.now() - started;
      assert.ok(took >= 280 && took < 1_000, `the stream ended after ${took.toFixed(0)} ms`);
      const events = sseEvents(text);
      assert.equal(events.length, 1, text);
      const error = JSON.parse(events[0].replace(/^data: /, "")).error;
      assert.equal(error.code, "stream_interrupted");
      assert.equal(
        error.message,
        "the stream from silent broke off: upstream silent sent nothing for 0.3s (idle_secs)",
      );
      await within(aborted, 500, "the silent upstream was never aborted");
      assert.equal(router.records.at(-1)?.outcome, "idle_timeout");
    } finally {
      await router.close();
      await silent.close();
    }
  },
);

faultTest(
  "headers then silence on a whole answer: after idle_secs the next endpoint answers instead",
  async () => {
    const silent = await startFake({ kind: "ollama" });
    const next = await startFake({ kind: "ollama" });
    silent.fault = { type: "headers_then_silence" };
    const router = await startRouter(chainConfig([
      { id: "silent", apiBase: silent.apiBase, model: OLLAMA_MODEL },
      { id: "next", apiBase: next.apiBase, model: OLLAMA_MODEL },
    ], { timeouts: "first_byte_secs: 2, idle_secs: 0.3" }));
    try {
      const res = await within(
        post(router, "/v1/chat/completions", chainBody()),
        3_000,
        "no answer",
      );
      assert.equal(res.status, 200);
      assert.equal((await res.json()).choices[0].message.content, "Hello from ollama");
      assert.equal(res.headers.get("x-bitrouter-provider"), "next");
      assert.equal(res.headers.get("x-bitrouter-attempts"), "2");
      assert.ok(silent.requests[0].abortedAt !== undefined, "the silent upstream was not aborted");
      assert.ok(next.requests[0].at >= silent.requests[0].at + 280, "next was tried too early");
    } finally {
      await router.close();
      await silent.close();
      await next.close();
    }
  },
);

faultTest(
  "a stream that dies after 2 chunks: the client gets those chunks, then the error event, never [DONE]",
  async () => {
    const ollama = await startFake({ kind: "ollama" });
    const spare = await startFake({ kind: "ollama" });
    ollama.fault = { type: "die_after", chunks: 2 };
    const router = await startRouter(chainConfig([
      { id: "ollama", apiBase: ollama.apiBase, model: OLLAMA_MODEL },
      { id: "spare", apiBase: spare.apiBase, model: OLLAMA_MODEL },
    ]));
    try {
      const res = await post(router, "/v1/chat/completions", chainBody({ stream: true }));
      assert.equal(res.status, 200);
      const events = sseEvents(await within(res.text(), 3_000, "the stream never ended"));
      assert.equal(events.length, 3, events.join("\n"));
      assert.deepEqual(
        events.slice(0, 2).map((e) => JSON.parse(e.slice(6)).choices[0].delta.content),
        ["", "Hello"],
      );
      const error = JSON.parse(events[2].replace(/^data: /, "")).error;
      assert.equal(error.type, "upstream_error");
      assert.equal(error.code, "stream_interrupted");
      assert.match(error.message, /^the stream from ollama broke off: /);
      assert.equal(spare.requests.length, 0, "a started stream cannot fail over");
      assert.equal(router.records.at(-1)?.outcome, "upstream_error");
    } finally {
      await router.close();
      await ollama.close();
      await spare.close();
    }
  },
);

faultTest(
  "a stream that dies after 2 chunks reaches a /v1/messages client as `event: error`, never message_stop",
  async () => {
    const ollama = await startFake({ kind: "ollama" });
    ollama.fault = { type: "die_after", chunks: 2 };
    const router = await startRouter(chainConfig([
      { id: "ollama", apiBase: ollama.apiBase, model: OLLAMA_MODEL },
    ]));
    try {
      const res = await post(router, "/v1/messages", {
        model: "chain",
        max_tokens: 64,
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      });
      assert.equal(res.status, 200);
      const events = sseEvents(await within(res.text(), 3_000, "the stream never ended"));
      const names = events.map((e) => e.match(/^event: (.+)$/m)?.[1]);
      assert.equal(names[0], "message_start");
      assert.ok(names.includes("content_block_delta"), names.join(", "));
      assert.equal(names.at(-1), "error");
      assert.ok(!names.includes("message_stop"), names.join(", "));
      const data = JSON.parse(events.at(-1)!.match(/^data: (.+)$/m)![1]);
      assert.equal(data.type, "error");
      assert.equal(data.error.type, "api_error");
      assert.match(data.error.message, /ollama broke off/);
      assert.equal(ollama.requests[0].path, "/v1/chat/completions", "translated to Chat upstream");
    } finally {
      await router.close();
      await ollama.close();
    }
  },
);

faultTest(
  "a dripping stream: each byte reaches the client as it comes, not gathered into events",
  async () => {
    const ollama = await startFake({ kind: "ollama" });
    ollama.fault = { type: "drip", intervalMs: 25 };
    const router = await startRouter(chainConfig([
      { id: "ollama", apiBase: ollama.apiBase, model: OLLAMA_MODEL },
    ]));
    try {
      const res = await post(router, "/v1/chat/completions", chainBody({ stream: true }));
      const reader = res.body!.getReader();
      const arrivals: { bytes: number; at: number }[] = [];
      while (arrivals.length < 12) {
        const { value, done } = await reader.read();
        if (done) break;
        arrivals.push({ bytes: value.length, at: performance.now() });
      }
      await reader.cancel();
      const sent = ollama.requests[0].sentAt!;
      assert.deepEqual(arrivals.map((a) => a.bytes), Array(12).fill(1), "bytes were gathered");
      arrivals.forEach((a, i) => {
        const lag = a.at - sent[i];
        assert.ok(lag >= 0 && lag < 20, `byte ${i} arrived ${lag.toFixed(1)} ms after it was sent`);
      });
    } finally {
      await router.close();
      await ollama.close();
    }
  },
);

faultTest(
  "a stream dripping slower than idle_secs ends with the idle error event after its first byte",
  async () => {
    const ollama = await startFake({ kind: "ollama" });
    ollama.fault = { type: "drip", intervalMs: 1_000 };
    const router = await startRouter(chainConfig([
      { id: "ollama", apiBase: ollama.apiBase, model: OLLAMA_MODEL },
    ], { timeouts: "first_byte_secs: 2, idle_secs: 0.2" }));
    try {
      const aborted = ollama.nextAbort();
      const started = performance.now();
      const res = await post(router, "/v1/chat/completions", chainBody({ stream: true }));
      const text = await within(res.text(), 3_000, "the stream never ended");
      const took = performance.now() - started;
      assert.ok(took < 800, `ended after ${took.toFixed(0)} ms`);
      assert.ok(text.startsWith('d\n\ndata: {"error":'), JSON.stringify(text));
      assert.match(text, /sent nothing for 0\.2s \(idle_secs\)/);
      await within(aborted, 500, "the dripping upstream was never aborted");
      assert.equal(ollama.requests[0].sentBytes, 1);
    } finally {
      await router.close();
      await ollama.close();
    }
  },
);

faultTest(
  "a stream dripping faster than idle_secs is cut at total_secs with the error event",
  async () => {
    const ollama = await startFake({ kind: "ollama" });
    ollama.fault = { type: "drip", intervalMs: 20 };
    const router = await startRouter(chainConfig([
      { id: "ollama", apiBase: ollama.apiBase, model: OLLAMA_MODEL },
    ], { timeouts: "first_byte_secs: 2, idle_secs: 0.2, total_secs: 0.5" }));
    try {
      const started = performance.now();
      const res = await post(router, "/v1/chat/completions", chainBody({ stream: true }));
      const text = await within(res.text(), 3_000, "the stream never ended");
      const took = performance.now() - started;
      assert.ok(took >= 480 && took < 1_000, `ended after ${took.toFixed(0)} ms`);
      const cut = text.indexOf('\n\ndata: {"error":');
      assert.ok(cut > 10, `only ${cut} bytes before the error event: idle fired?`);
      assert.match(text.slice(cut), /exceeded total_secs/);
      assert.doesNotMatch(text, /\[DONE\]/);
      assert.equal(router.records.at(-1)?.outcome, "total_timeout");
    } finally {
      await router.close();
      await ollama.close();
    }
  },
);

faultTest("a whole answer dripping past idle_secs fails over to the next endpoint", async () => {
  const drip = await startFake({ kind: "ollama" });
  const next = await startFake({ kind: "ollama" });
  drip.fault = { type: "drip", intervalMs: 20 };
  const router = await startRouter(chainConfig([
    { id: "drip", apiBase: drip.apiBase, model: OLLAMA_MODEL },
    { id: "next", apiBase: next.apiBase, model: OLLAMA_MODEL },
  ], { timeouts: "first_byte_secs: 2, idle_secs: 0.3" }));
  try {
    const res = await within(
      post(router, "/v1/chat/completions", chainBody()),
      3_000,
      "no answer",
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-bitrouter-provider"), "next");
    assert.equal(res.headers.get("x-bitrouter-attempts"), "2");
    await res.body?.cancel();
    assert.ok(drip.requests[0].abortedAt !== undefined, "the dripping upstream was not aborted");
  } finally {
    await router.close();
    await drip.close();
    await next.close();
  }
});
