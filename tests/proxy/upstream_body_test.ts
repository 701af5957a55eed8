import assert from "node:assert/strict";
import { ERROR_BODY_BYTES, mebibytes, readUpTo } from "../../src/proxy/upstream_body.ts";

/** A body of `total` bytes (byte i is i % 251) in `chunk`-byte pieces, made as they are pulled. */
function counted(total: number, chunk: number) {
  const state = { pulled: 0, cancelled: false };
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (state.pulled >= total) return c.close();
      const n = Math.min(chunk, total - state.pulled);
      c.enqueue(Uint8Array.from({ length: n }, (_, i) => (state.pulled + i) % 251));
      state.pulled += n;
    },
    cancel() {
      state.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { body, state };
}

function pattern(n: number): Uint8Array<ArrayBuffer> {
  return Uint8Array.from({ length: n }, (_, i) => i % 251);
}

/** A loopback server for real fetch bodies (byte streams, gzip decoding); closed by the test. */
function serve(handler: (req: Request) => Response | Promise<Response>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return { url: `http://127.0.0.1:${server.addr.port}`, server };
}

Deno.test("a body within the limit is read whole, across chunk and block boundaries", async () => {
  for (const [total, chunk] of [[0, 1], [5, 5], [200_000, 7_000], [70_000, 65_536]]) {
    const { body } = counted(total, chunk);
    const read = await readUpTo(new Response(body), 1_000_000);
    assert.equal(read.whole, true);
    assert.deepEqual(read.bytes, pattern(total));
  }
  const exact = await readUpTo(new Response(counted(4096, 1000).body), 4096);
  assert.equal(exact.whole, true);
  assert.equal(exact.bytes.length, 4096);
  const none = await readUpTo(new Response(null, { status: 204 }), 10);
  assert.deepEqual(none, { bytes: new Uint8Array(0), whole: true });
});

Deno.test("a chunked body is cancelled as soon as it passes the limit; its head is kept when asked", async () => {
  const { body, state } = counted(100 * 1024 * 1024, 1024);
  const read = await readUpTo(new Response(body), 10_000);
  assert.equal(read.whole, false);
  assert.deepEqual(read.bytes, pattern(10_000));
  assert.ok(state.pulled <= 11 * 1024, `pulled ${state.pulled} bytes`);
  assert.equal(state.cancelled, true);

  const headless = counted(100 * 1024 * 1024, 1024);
  const refused = await readUpTo(new Response(headless.body), 10_000, false);
  assert.deepEqual(refused, { bytes: new Uint8Array(0), whole: false });
  assert.equal(headless.state.cancelled, true);
});

Deno.test("a declared length past the limit is refused without reading the body", async () => {
  const { body, state } = counted(100_000, 1000);
  const res = new Response(body, { headers: { "content-length": "100000" } });
  const read = await readUpTo(res, 10_000, false);
  assert.deepEqual(read, { bytes: new Uint8Array(0), whole: false });
  assert.equal(state.pulled, 0);
  assert.equal(state.cancelled, true);
});

Deno.test("real fetch bodies: trickled bytes are joined in order, and an honest length is read whole", async () => {
  const { url, server } = serve((req) => {
    if (new URL(req.url).pathname === "/trickle") return new Response(counted(300_000, 999).body);
    return new Response(pattern(50_000));
  });
  try {
    const trickled = await readUpTo(await fetch(`${url}/trickle`), 1_000_000);
    assert.equal(trickled.whole, true);
    assert.deepEqual(trickled.bytes, pattern(300_000));
    const declared = await fetch(`${url}/whole`);
    assert.equal(declared.headers.get("content-length"), "50000");
    const whole = await readUpTo(declared, 50_000);
    assert.equal(whole.whole, true);
    assert.deepEqual(whole.bytes, pattern(50_000));
  } finally {
    await server.shutdown();
  }
});

Deno.test("a gzip body is counted as decoded: a small content-length does not let a bomb through", async () => {
  const zeros = new Uint8Array(1024 * 1024);
  const gzip = new CompressionStream("gzip");
  const writer = gzip.writable.getWriter();
  const written = (async () => {
    for (let i = 0; i < 32; i++) await writer.write(zeros);
    await writer.close();
  })();
  const bomb = new Uint8Array(await new Response(gzip.readable).arrayBuffer());
  await written;
  const { url, server } = serve(() =>
    new Response(bomb, {
      headers: { "content-encoding": "gzip", "content-type": "application/json" },
    })
  );
  try {
    const res = await fetch(url);
    assert.ok(Number(res.headers.get("content-length")) < 1024 * 1024);
    const read = await readUpTo(res, 4 * 1024 * 1024, false);
    assert.equal(read.whole, false);
    const small = await readUpTo(await fetch(url), 64 * 1024 * 1024);
    assert.equal(small.whole, true);
    assert.equal(small.bytes.length, 32 * 1024 * 1024);
  } finally {
    await server.shutdown();
  }
});

Deno.test("error bodies are read to 64 KiB; sizes are written in MiB", () => {
  assert.equal(ERROR_BODY_BYTES, 64 * 1024);
  assert.equal(mebibytes(64 * 1024 * 1024), "64 MiB");
  assert.equal(mebibytes(512 * 1024), "0.5 MiB");
});
