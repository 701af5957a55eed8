/**
 * Fault suite, misbehaving clients: one that leaves mid-stream, one that leaves before the
 * response starts, and one that never reads its response (SPEC §5: a client disconnect aborts
 * the upstream request within 100 ms; a stream is relayed chunk by chunk, never buffered).
 */
import assert from "node:assert/strict";
import { startFake } from "../fakes/upstream.ts";
import { until, within } from "../e2e/helpers.ts";
import { chainBody, chainConfig, faultTest, post, queuedBytes, startRouter } from "./harness.ts";

const OLLAMA_MODEL = "llama3.1";

faultTest("a client leaving mid-stream closes the upstream request within 100 ms", async () => {
  const ollama = await startFake({ kind: "ollama", chunkDelayMs: 50 });
  const router = await startRouter(chainConfig([
    { id: "ollama", apiBase: ollama.apiBase, model: OLLAMA_MODEL },
  ]));
  try {
    const controller = new AbortController();
    const res = await post(router, "/v1/chat/completions", chainBody({ stream: true }), {
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.match(new TextDecoder().decode(first.value), /^data: /);
    const aborted = ollama.nextAbort();
    const leftAt = performance.now();
    controller.abort();
    await reader.closed.catch(() => {});
    const at = await within(aborted, 1_000, "the upstream never saw the client go away");
    assert.ok(at - leftAt < 100, `upstream aborted ${(at - leftAt).toFixed(0)} ms after`);
    assert.ok(ollama.requests[0].sentAt!.length < 6, "the upstream ran to its end");
    await router.idle();
    assert.equal(router.records.at(-1)?.outcome, "client_gone");
  } finally {
    await router.close();
    await ollama.close();
  }
});

faultTest(
  "a client leaving before the response starts (short prompt) closes the upstream request within 100 ms",
  async () => {
    const ollama = await startFake({ kind: "ollama" });
    const next = await startFake({ kind: "ollama" });
    ollama.fault = { type: "hang" };
    const router = await startRouter(chainConfig([
      { id: "ollama", apiBase: ollama.apiBase, model: OLLAMA_MODEL },
      { id: "next", apiBase: next.apiBase, model: OLLAMA_MODEL },
    ], { timeouts: "first_byte_secs: 5, idle_secs: 5" }));
    try {
      const controller = new AbortController();
      const pending = post(router, "/v1/chat/completions", chainBody(), {
        signal: controller.signal,
      });
      pending.catch(() => {});
      await until(() => ollama.requests.length === 1, 2_000, "the request never reached Ollama");
      const aborted = ollama.nextAbort();
      const leftAt = performance.now();
      controller.abort();
      await assert.rejects(pending);
      const at = await within(aborted, 1_000, "the upstream never saw the client go away");
      assert.ok(at - leftAt < 100, `upstream aborted ${(at - leftAt).toFixed(0)} ms after`);
      await router.idle();
      assert.equal(next.requests.length, 0, "a client that left must not cause a failover");
      assert.deepEqual(router.records.map((r) => [r.status, r.outcome]), [[499, "client_gone"]]);
    } finally {
      await router.close();
      await ollama.close();
      await next.close();
    }
  },
);

/**
 * What the flooding upstream may write ahead of a client that reads nothing: the loopback socket
 * buffers on the way hold 12–15 MiB on Linux (measured); a relay that buffered without limit
 * passes this within a second.
 */
const AHEAD_LIMIT_BYTES = 32 * 1024 * 1024;
/** Of that, what may sit in user space: hyper's buffers, the relay's chunk (~0.6 MiB measured). */
const USERSPACE_LIMIT_BYTES = 4 * 1024 * 1024;

function kib(bytes: number): string {
  return `${Math.round(bytes / 1024)} KiB`;
}

faultTest(
  "a client that never reads its stream: the upstream's writes stall instead of BitRouter buffering them",
  async () => {
    const ollama = await startFake({ kind: "ollama" });
    ollama.fault = { type: "flood", eventBytes: 4096 };
    const router = await startRouter(chainConfig([
      { id: "ollama", apiBase: ollama.apiBase, model: OLLAMA_MODEL },
    ]));
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.port });
    try {
      const body = JSON.stringify(chainBody({ stream: true }));
      await conn.write(new TextEncoder().encode(
        `POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
          `content-length: ${body.length}\r\n\r\n${body}`,
      ));
      await until(() => ollama.requests.length === 1, 2_000, "the request never reached Ollama");
      const request = ollama.requests[0];
      // Wait until the upstream has written nothing new for 300 ms: every buffer on the way (the
      // client's and BitRouter's sockets, hyper's, the fake's own) is full and backpressure holds
      // it. Without backpressure it would write on until AHEAD_LIMIT_BYTES fails the test.
      let last = -1;
      let stableSince = performance.now();
      await until(
        () => {
          const sent = request.sentBytes ?? 0;
          if (sent > AHEAD_LIMIT_BYTES) return true;
          if (sent !== last) [last, stableSince] = [sent, performance.now()];
          return performance.now() - stableSince > 300;
        },
        10_000,
        "the upstream never stalled",
      );
      const ahead = request.sentBytes!;
      assert.ok(ahead > 64 * 1024, `only ${ahead} bytes: the stream never started?`);
      assert.ok(
        ahead <= AHEAD_LIMIT_BYTES,
        `the upstream wrote ${ahead} bytes ahead of the client`,
      );
      // Most of what was written sits in the kernel's socket buffers on the way; what is left is
      // held in user space, by BitRouter (and hyper, and the fake's relay): that must stay small.
      const inKernel = await queuedBytes([
        router.port,
        Number(new URL(ollama.url).port),
        ollama.innerPort,
      ]);
      if (inKernel !== undefined) {
        const held = ahead - inKernel;
        console.log(
          `the flooding upstream stalled ${kib(ahead)} ahead of the client: ${kib(inKernel)} in ` +
            `socket buffers, ${kib(held)} held in user space`,
        );
        assert.ok(
          held < USERSPACE_LIMIT_BYTES,
          `${kib(held)} held in user space (${kib(ahead)} ahead, ${
            kib(inKernel)
          } in socket buffers)`,
        );
      }
      const aborted = ollama.nextAbort();
      conn.close();
      await within(aborted, 1_000, "the upstream never saw the client go away");
      await router.idle();
    } finally {
      try {
        conn.close();
      } catch { /* closed above */ }
      await router.close();
      await ollama.close();
    }
  },
);
