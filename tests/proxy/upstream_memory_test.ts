/**
 * Memory against hostile upstreams (SPEC §11), measured where it matters: the real server in a
 * child process, its peak RSS read from /proc while a fake upstream sends answers far past the
 * limits. Before the limits, these cases took the child from ~70 MB to over 1 GB.
 */
import assert from "node:assert/strict";
import { startRouter } from "../e2e/helpers.ts";

const MiB = 1024 * 1024;
/** The limits the child runs with: small, so that the test is quick and a bound means something. */
const MAX_RESPONSE_MB = 8;
const MAX_EVENT_MB = 4;
/**
 * What a large read costs the runtime whatever BitRouter keeps of it: reading the gzip bomb into
 * one reused 64 KiB buffer, keeping nothing, raised a fresh Deno 2.9.6's RSS by about 11 MB
 * (decoder and allocator arenas), and the answers' blocks are garbage until V8 collects them.
 */
const RUNTIME_SLACK = 8 * MiB;

/** `total` bytes: `head`, then `fill` repeated, made only as the reader pulls (never held whole). */
function lazyBody(total: number, head: string, fill: string): ReadableStream<Uint8Array> {
  const piece = new TextEncoder().encode(fill.repeat(64 * 1024 / fill.length));
  let sent = 0;
  let first = true;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (first) {
        first = false;
        const bytes = new TextEncoder().encode(head);
        sent += bytes.length;
        return c.enqueue(bytes);
      }
      if (sent >= total) return c.close();
      sent += piece.length;
      c.enqueue(piece);
    },
  }, { highWaterMark: 0 });
}

/** A gzip body of `decodedMiB` MiB of zeros: about 1 KiB per MiB on the wire. */
async function gzipBomb(decodedMiB: number): Promise<Uint8Array<ArrayBuffer>> {
  const zeros = new Uint8Array(4 * MiB);
  const gzip = new CompressionStream("gzip");
  const writer = gzip.writable.getWriter();
  const written = (async () => {
    for (let i = 0; i < decodedMiB / 4; i++) await writer.write(zeros);
    await writer.close();
  })();
  const bytes = new Uint8Array(await new Response(gzip.readable).arrayBuffer());
  await written;
  return bytes;
}

/**
 * Runs a shell command on the child's /proc entries: Deno 2.9.6 wants --allow-all, not just
 * --allow-read and --allow-write, to touch another process's /proc files (as bench/bench.ts).
 */
async function proc(script: string): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", script], stderr: "piped" }).output();
  const text = new TextDecoder();
  if (!out.success) throw new Error(`sh -c '${script}' failed: ${text.decode(out.stderr)}`);
  return text.decode(out.stdout);
}

/** The child's resident and peak resident memory, in bytes. */
async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await proc(`cat /proc/${pid}/status`);
  const kb = (field: string) => Number(status.match(new RegExp(`${field}:\\s+(\\d+) kB`))![1]);
  return { rss: kb("VmRSS") * 1024, peak: kb("VmHWM") * 1024 };
}

/** How far the child's peak RSS rose above its RSS while `run` ran (the peak is reset first). */
async function riseDuring(pid: number, run: () => Promise<void>) {
  // Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+).
  await proc(`printf 5 > /proc/${pid}/clear_refs`);
  const before = await memoryOf(pid);
  await run();
  const after = await memoryOf(pid);
  return { before: before.rss, peak: after.peak, rise: after.peak - before.rss };
}

const mb = (bytes: number) => `${(bytes / MiB).toFixed(1)} MB`;

Deno.test({
  name: "hostile upstream answers raise the server's RSS by about twice the limit at most",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const bomb = await gzipBomb(512);
    const answer = JSON.stringify({
      id: "c",
      object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
    });
    const gzipped = new Uint8Array(
      await new Response(new Blob([answer]).stream().pipeThrough(new CompressionStream("gzip")))
        .arrayBuffer(),
    );
    const sse = { "content-type": "text/event-stream" };
    const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const path = new URL(req.url).pathname;
      if (path.startsWith("/ok/")) {
        return new Response(answer, { headers: { "content-type": "application/json" } });
      }
      if (path.startsWith("/okgzip/")) {
        return new Response(gzipped, {
          headers: { "content-type": "application/json", "content-encoding": "gzip" },
        });
      }
      if (path.startsWith("/okstream/")) {
        return new Response(
          `data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n` +
            `data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n`,
          { headers: sse },
        );
      }
      if (path.startsWith("/big/")) {
        return new Response(lazyBody(500 * MiB, '{"choices":[', " "), {
          headers: { "content-type": "application/json" },
        });
      }
      if (path.startsWith("/bomb/")) {
        return new Response(bomb, {
          headers: { "content-type": "application/json", "content-encoding": "gzip" },
        });
      }
      if (path.startsWith("/error/")) {
        return new Response(lazyBody(256 * MiB, "<html><title>Overloaded</title>", "x"), {
          status: 500,
          headers: { "content-type": "text/html" },
        });
      }
      return new Response(
        lazyBody(128 * MiB, 'data: {"choices":[{"index":0,"delta":{"content":"', "z"),
        { headers: sse },
      );
    });
    const base = `http://127.0.0.1:${upstream.addr.port}`;
    const providers = ["ok", "okgzip", "okstream", "big", "bomb", "error", "line"]
      .map((p) => `  ${p}: { api_base: "${base}/${p}/v1", models: [m] }`).join("\n");
    const router = await startRouter({
      config: `server: { skip_auth: true }
upstream: { max_response_mb: ${MAX_RESPONSE_MB}, max_event_mb: ${MAX_EVENT_MB} }
providers:
${providers}
`,
    });
    const post = (path: string, body: Record<string, unknown>) =>
      fetch(`${router.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const chat = (provider: string) =>
      post("/v1/chat/completions", {
        model: `${provider}:m`,
        messages: [{ role: "user", content: "hi" }],
      });
    const messagesStream = (provider: string) =>
      post("/v1/messages", {
        model: `${provider}:m`,
        max_tokens: 10,
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      });
    const report: string[] = [];
    try {
      // Warm up every path, so that compiling them is not counted as a case's memory.
      for (let i = 0; i < 3; i++) {
        assert.equal((await (await chat("ok")).json()).choices[0].message.content, "hi");
        assert.equal((await (await chat("okgzip")).json()).choices[0].message.content, "hi");
        assert.match(await (await messagesStream("okstream")).text(), /message_stop/);
      }
      const cases: { name: string; limit: number; run: () => Promise<void> }[] = [
        {
          name: "a translated stream with a 128 MB line",
          limit: MAX_EVENT_MB * MiB,
          run: async () => {
            const res = await messagesStream("line");
            assert.equal(res.status, 200);
            const text = await res.text();
            assert.match(text, /event: error\ndata: .*upstream\.max_event_mb/);
            assert.ok(!text.includes("message_stop"));
          },
        },
        {
          name: "a 500 MB answer",
          limit: MAX_RESPONSE_MB * MiB,
          run: async () => {
            const res = await chat("big");
            assert.equal(res.status, 502);
            assert.match(
              (await res.json()).error.message,
              /big: answer too large: over 8 MiB \(upstream\.max_response_mb\)/,
            );
          },
        },
        {
          name: `a gzip bomb (${Math.round(bomb.length / 1024)} KiB, 512 MiB decoded)`,
          limit: MAX_RESPONSE_MB * MiB,
          run: async () => {
            const res = await chat("bomb");
            assert.equal(res.status, 502);
            assert.match((await res.json()).error.message, /bomb: answer too large: over 8 MiB/);
          },
        },
        {
          name: "a 500 error with a 256 MB body",
          limit: 64 * 1024,
          run: async () => {
            const res = await chat("error");
            assert.equal(res.status, 502);
            assert.match((await res.json()).error.message, /error: 500 Overloaded/);
          },
        },
      ];
      for (const c of cases) {
        const m = await riseDuring(router.pid, c.run);
        report.push(`${c.name}: RSS ${mb(m.before)} -> peak ${mb(m.peak)} (+${mb(m.rise)})`);
        assert.ok(
          m.rise <= 2 * c.limit + RUNTIME_SLACK,
          `${c.name} raised RSS by ${mb(m.rise)}, more than twice ${mb(c.limit)} + ${
            mb(RUNTIME_SLACK)
          }`,
        );
      }
    } finally {
      console.log(report.join("\n"));
      await router.stop();
      await upstream.shutdown();
    }
  },
});
