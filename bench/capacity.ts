/**
 * What capacity accounting costs per request (SPEC §9: nothing measurable without limits, at most
 * about 2 µs with them), in process: the handler in front of a fake fetch that answers at once,
 * the same request with no limit, with `max_concurrent`, with `max_concurrent` and `rate_limits`,
 * and under `strategy: balance`; then the capacity calls alone.
 *
 *   deno run -A bench/capacity.ts [rounds]
 *
 * Rounds alternate between the setups so drift in the machine's speed hits each alike; the
 * median of the rounds is reported. A sibling of `deno task bench`, far smaller: run it alone.
 */
import { parseConfig } from "../src/config/load.ts";
import { buildRouteTable } from "../src/routing/route_table.ts";
import { createHandler } from "../src/proxy/handler.ts";
import { silentLogger } from "../src/observe/log.ts";
import { CapacityBook } from "../src/routing/capacity.ts";
import type { Provider } from "../src/config/types.ts";

const ROUNDS = Number(Deno.args[0] ?? 15);
const PER_ROUND = 4000;

const provider = (extra: string) => `
providers:
  a:
    api_base: http://a.test/v1
    models: [m]
${extra}
  b:
    api_base: http://b.test/v1
    models: [m]
${extra}
`;

const SETUPS: Record<string, string> = {
  "no limit": provider(""),
  "max_concurrent": provider("    max_concurrent: 64"),
  "max_concurrent + rate_limits": provider(
    '    max_concurrent: 64\n    rate_limits:\n      - "*": { requests_per_minute: 100000000, tokens_per_minute: 100000000000 }',
  ),
  // The baseline of balance: the same virtual model in declared order.
  "virtual, priority (2 endpoints)": provider("") +
    "models:\n  v:\n    endpoints:\n      - { provider: a, service_id: m }\n      - { provider: b, service_id: m }\n",
  "virtual, balance (2 endpoints)": provider("") +
    "models:\n  v:\n    strategy: balance\n    endpoints:\n      - { provider: a, service_id: m }\n      - { provider: b, service_id: m }\n",
};

const answer = new TextEncoder().encode('{"object":"chat.completion","choices":[]}');
const fakeFetch = (() =>
  Promise.resolve(
    new Response(answer, { headers: { "content-type": "application/json" } }),
  )) as typeof fetch;

const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] });
const balancedBody = body.replace('"m"', '"v"');

function handlerFor(config: string) {
  const table = buildRouteTable(parseConfig(config, "/b.yaml", { env: () => undefined }));
  return createHandler({
    routes: () => table,
    fetch: fakeFetch,
    now: () => performance.now(),
    log: silentLogger,
  });
}

async function run(handle: (r: Request) => Promise<Response>, text: string): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < PER_ROUND; i++) {
    const res = await handle(
      new Request("http://127.0.0.1:4356/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: text,
      }),
    );
    await res.arrayBuffer();
  }
  return (performance.now() - start) * 1000 / PER_ROUND;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const handlers = Object.fromEntries(
  Object.entries(SETUPS).map(([name, config]) => [name, handlerFor(config)]),
);
const samples: Record<string, number[]> = Object.fromEntries(
  Object.keys(SETUPS).map((k) => [k, []]),
);
for (let round = 0; round < ROUNDS + 2; round++) {
  for (const [name, handle] of Object.entries(handlers)) {
    const us = await run(handle, name.startsWith("virtual") ? balancedBody : body);
    if (round >= 2) samples[name].push(us); // two rounds of warm-up
  }
}
// The fastest round is the one least disturbed by anything else on the machine; on a shared CPU
// it tells a few microseconds apart where the median cannot.
const best = (xs: number[]) => Math.min(...xs);
const base = best(samples["no limit"]);
const priority = best(samples["virtual, priority (2 endpoints)"]);
console.log(
  `handler, fake fetch, ${ROUNDS} rounds of ${PER_ROUND} requests (fastest round, µs/request; median in brackets):`,
);
for (const [name, xs] of Object.entries(samples)) {
  const m = best(xs);
  const vs = name.startsWith("virtual, balance") ? priority : base;
  console.log(
    `  ${name.padEnd(32)} ${m.toFixed(2)} µs [${median(xs).toFixed(2)}]${
      name === "no limit" || name.startsWith("virtual, priority")
        ? ""
        : `  ${m - vs >= 0 ? "+" : ""}${(m - vs).toFixed(2)} µs`
    }`,
  );
}

// The capacity calls alone: a lease taken and released.
const book = new CapacityBook(() => performance.now());
const limited = {
  id: "a",
  maxConcurrent: 64,
  rateLimits: [{ pattern: "*", requestsPerMinute: 1e12, tokensPerMinute: 1e15 }],
} as unknown as Provider;
book.configure([limited]);
const e = { provider: limited, model: "m" };
const N = 1_000_000;
let t = performance.now();
for (let i = 0; i < N; i++) book.tryAcquire(e, 10)!.release();
console.log(
  `tryAcquire + release (slots and a rate window): ${
    ((performance.now() - t) * 1000 / N).toFixed(3)
  } µs`,
);
t = performance.now();
let n = 0;
for (let i = 0; i < N; i++) n += book.load(e, 10);
console.log(
  `load (balance's ranking, per candidate): ${((performance.now() - t) * 1000 / N).toFixed(3)} µs${
    n < 0 ? "!" : ""
  }`,
);
