/**
 * The runtime's floor for the benchmark (SPEC §9): a bare `Deno.serve` + `fetch` passthrough that
 * forwards the method, body and content-type to the upstream at the same path and streams the
 * answer back. BitRouter cannot be faster than this on the same machine; it is measured against it.
 *
 * Usage: deno run --allow-net bench/passthrough.ts http://127.0.0.1:UPSTREAM_PORT [--signal]
 *        [--contract] [--guarded]
 * Prints one line, `passthrough ready: http://127.0.0.1:PORT`, once it is listening.
 *
 * `--signal` also hands the request's AbortSignal to fetch, so that a client disconnect aborts the
 * upstream request (SPEC §5 asks this of BitRouter). It is off by default because it is not free:
 * it shows what that one line costs when compared with the plain floor.
 *
 * `--contract` also does the least SPEC §4 asks of every answer: it parses the body to read
 * `model`, and answers with `x-request-id`, `x-bitrouter-provider`, `x-bitrouter-model` and
 * `x-bitrouter-attempts` besides content-type — still streaming the upstream's body natively, with
 * none of the guarding (time limits, in-band stream errors, failover) BitRouter does. It shows
 * what the contract alone costs on this runtime.
 *
 * `--guarded` relays answers the least way SPEC §5 leaves open, still without its checks: a whole
 * answer is read before it is sent (a time limit can only end a body the proxy is reading, and a
 * body that breaks off can only be failed over before anything is sent), and a stream passes
 * through JavaScript, one read per chunk into a reused buffer (the runtime's native relay cannot be
 * stopped by an abort, and a stream that dies must end with an error event the proxy writes). It
 * shows what relaying the way SPEC §5 requires costs on this runtime, before any routing.
 */

const [origin, ...flags] = Deno.args;
const FLAGS = ["--signal", "--contract", "--guarded"];
if (!origin || flags.some((f) => !FLAGS.includes(f))) {
  console.error("usage: passthrough.ts UPSTREAM_ORIGIN [--signal] [--contract] [--guarded]");
  Deno.exit(2);
}
const withSignal = flags.includes("--signal");
const contract = flags.includes("--contract");
const guarded = flags.includes("--guarded");

/** The cheapest relay through JavaScript found (bench): a BYOB reader into a reused buffer. */
function relay(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader({ mode: "byob" });
  let buffer = new Uint8Array(4096);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read(buffer);
      if (done) return controller.close();
      controller.enqueue(value.slice());
      buffer = new Uint8Array(value.buffer as ArrayBuffer);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ hostname, port }) => console.log(`passthrough ready: http://${hostname}:${port}`),
}, async (req) => {
  const url = new URL(req.url);
  // A router has to read the body whole anyway (it needs `model`), so the floor does too.
  const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
  const upstream = await fetch(origin + url.pathname + url.search, {
    method: req.method,
    body,
    headers: { "content-type": req.headers.get("content-type") ?? "application/json" },
    signal: withSignal ? req.signal : undefined,
  });
  const type = upstream.headers.get("content-type") ?? "application/octet-stream";
  const answer = !guarded || !upstream.body
    ? upstream.body
    : type.includes("text/event-stream")
    ? relay(upstream.body)
    : await upstream.bytes();
  if (!contract) {
    return new Response(answer, {
      status: upstream.status,
      headers: { "content-type": type },
    });
  }
  const model = body ? String(JSON.parse(new TextDecoder().decode(body)).model) : "";
  return new Response(answer, {
    status: upstream.status,
    headers: {
      "content-type": type,
      "x-request-id": req.headers.get("x-request-id") ?? crypto.randomUUID(),
      "x-bitrouter-provider": "up",
      "x-bitrouter-model": model,
      "x-bitrouter-attempts": "1",
    },
  });
});
