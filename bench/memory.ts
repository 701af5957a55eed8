/**
 * SPEC §9's memory and start-up figures, each optional (`--memory LIST`) because each takes time:
 *   start    spawn to the ready line of `main.ts serve`, discovery off, median of fresh starts
 *   idle     RSS of a fresh BitRouter against a fresh bare floor (passthrough.ts, no flags)
 *   streams  RSS of a fresh BitRouter while N streams (512) are open through it at once
 *   drift    RSS of the measured BitRouter after a warm-up against after 100,000 more requests
 * RSS is read from /proc (Linux only).
 */
import { log, type Proc, rssKib, spawn } from "./proc.ts";
import { type Kind, KINDS, PLAIN_BODY, REQUEST, STREAM_BODY } from "./upstream.ts";
import { checkTarget, startBitRouter, startFloor, type Target } from "./targets.ts";
import { pinServers, runWrk, type Tools } from "./load.ts";
import { compiledBinary } from "./compile_size.ts";

/** A figure `--memory` can ask for. */
export type MemoryFigure = "start" | "idle" | "streams" | "drift";

/** Every figure, in the order they are measured. */
export const MEMORY_FIGURES: MemoryFigure[] = ["start", "idle", "streams", "drift"];

/** SPEC §9: start to the ready line, discovery off. */
export const START_MAX_MS = 300;
/** SPEC §9: idle RSS over the bare passthrough's. */
export const IDLE_RATIO_MAX = 1.5;
/** SPEC §9: RSS with 512 streams open. */
export const STREAMS_MAX_MIB = 150;
/** SPEC §9: RSS growth across 100,000 requests. */
export const DRIFT_GROWTH_MAX_PCT = 5;

/** Start to the ready line, per fresh start. */
export interface StartTime {
  /** `deno run main.ts serve` */
  runs_ms: number[];
  median_ms: number;
  /** The compiled binary, when `deno task compile` has built one; it is what is judged then. */
  binary: { path: string; runs_ms: number[]; median_ms: number } | null;
  max_ms: number;
  ok: boolean;
}

/** Idle RSS of fresh processes, median of `runs` starts each. */
export interface IdleRss {
  runs: number;
  bitrouter_kib: number;
  floor_kib: number;
  bitrouter_runs_kib: number[];
  floor_runs_kib: number[];
  ratio: number;
  max_ratio: number;
  ok: boolean;
}

/** RSS while `streams` streams are open at once. */
export interface StreamsRss {
  streams: number;
  bitrouter_idle_kib: number;
  bitrouter_kib: number;
  /** The bare floor holding as many streams, for scale. */
  floor_kib: number | null;
  max_mib: number;
  ok: boolean;
  /** Streams that failed or did not end with [DONE]. */
  errors: number;
}

/** RSS of the measured BitRouter before and after a long run of requests. */
export interface Drift {
  ready_kib: number;
  /** What came before `before_kib`: the measurements, or a warm-up of its own. */
  warmed_by: string;
  before_kib: number;
  after_kib: number;
  requests_between: number;
  growth_kib: number;
  growth_pct: number;
  max_growth_pct: number;
  flat: boolean;
  samples_kib: number[];
  /** The drift run round by round: requests so far and RSS after the round. */
  rounds: { requests: number; rss_kib: number }[];
  /** The floor's RSS at start and at the end, for scale: what the runtime itself settles at. */
  floor_ready_kib: number | null;
  floor_end_kib: number | null;
}

/** Every figure measured; null when not asked for or not measurable. */
export interface MemoryFigures {
  start: StartTime | null;
  idle: IdleRss | null;
  streams: StreamsRss | null;
  drift: Drift | null;
}

/** Where the fresh processes run and the upstream they use. */
export interface FreshContext {
  origin: string;
  dir: string;
  repo: string;
}

const EXPECT: Record<Kind, string> = { plain: PLAIN_BODY, stream: STREAM_BODY };

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** RSS after a short pause, for the allocator and GC to settle after the last request. */
async function settledRss(proc: Proc): Promise<number | undefined> {
  await new Promise((r) => setTimeout(r, 500));
  return await rssKib(proc.pid);
}

/**
 * Starts BitRouter `runs` times, each fresh: the time from spawn to its ready line, and (when
 * `idle`) its RSS after one request of each kind; then as many bare floors for the idle ratio.
 */
export async function measureStarts(
  ctx: FreshContext,
  runs: number,
  want: { start: boolean; idle: boolean },
): Promise<{ start: StartTime | null; idle: IdleRss | null }> {
  const readyMs: number[] = [];
  const routerKib: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = await startBitRouter(ctx.origin, ctx.dir, ctx.repo);
    try {
      readyMs.push(t.ready_ms);
      if (want.idle) {
        await checkTarget(t, EXPECT);
        const rss = await settledRss(t.proc);
        if (rss !== undefined) routerKib.push(rss);
      }
    } finally {
      await t.proc.stop();
    }
  }
  const floorKib: number[] = [];
  if (want.idle && routerKib.length) {
    for (let i = 0; i < runs; i++) {
      const f = await startFloor(ctx.origin, ctx.repo, {
        signal: false,
        contract: false,
        guarded: false,
      });
      try {
        await checkTarget(f, EXPECT);
        const rss = await settledRss(f.proc!);
        if (rss !== undefined) floorKib.push(rss);
      } finally {
        await f.proc?.stop();
      }
    }
  }
  let start: StartTime | null = null;
  if (want.start) {
    const path = await compiledBinary(ctx.repo);
    const binaryMs: number[] = [];
    for (let i = 0; path && i < runs; i++) {
      const t = await startBitRouter(ctx.origin, ctx.dir, ctx.repo, "", path);
      binaryMs.push(t.ready_ms);
      await t.proc.stop();
    }
    const binary = path ? { path, runs_ms: binaryMs, median_ms: median(binaryMs) } : null;
    start = {
      runs_ms: readyMs,
      median_ms: median(readyMs),
      binary,
      max_ms: START_MAX_MS,
      ok: (binary?.median_ms ?? median(readyMs)) <= START_MAX_MS,
    };
  }
  let idle: IdleRss | null = null;
  if (routerKib.length && floorKib.length) {
    const ratio = median(routerKib) / median(floorKib);
    idle = {
      runs,
      bitrouter_kib: median(routerKib),
      floor_kib: median(floorKib),
      bitrouter_runs_kib: routerKib,
      floor_runs_kib: floorKib,
      ratio,
      max_ratio: IDLE_RATIO_MAX,
      ok: ratio <= IDLE_RATIO_MAX,
    };
  } else if (want.idle) {
    log("warning: idle RSS not measured (needs Linux /proc)");
  }
  return { start, idle };
}

/**
 * An upstream that holds every stream open after its first event until GET /release: the bench
 * knows every stream is open through the target when each has had its first event, without
 * guessing at timing.
 */
function dripUpstreamSource(): string {
  const events = STREAM_BODY.split("\n\n").filter(Boolean).map((e) => e + "\n\n");
  return `// generated by bench/memory.ts
const EVENTS = ${JSON.stringify(events)};
const encoder = new TextEncoder();
let release = Promise.withResolvers();
let held = 0;
Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log("drip ready: http://127.0.0.1:" + port),
}, async (req) => {
  if (req.method === "GET") {
    const count = held;
    release.resolve();
    release = Promise.withResolvers();
    return new Response(String(count));
  }
  await req.arrayBuffer();
  const wait = release.promise;
  held++;
  const body = new ReadableStream({
    async start(controller) {
      controller.enqueue(encoder.encode(EVENTS[0]));
      await wait;
      held--;
      for (const e of EVENTS.slice(1)) controller.enqueue(encoder.encode(e));
      controller.close();
    },
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
});
`;
}

/**
 * Opens `n` streams through `url` at once, waits until each has had its first event, reads the
 * target's RSS, then lets the upstream finish them and reads each to its end.
 */
async function holdStreams(
  url: string,
  body: string,
  drip: string,
  target: Proc,
  n: number,
): Promise<{ rss: number | undefined; errors: number }> {
  const opened = Array.from({ length: n }, async () => {
    const res = await fetch(url, {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
    });
    if (res.status !== 200 || !res.body) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status}`);
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    return { reader, text: first.value ?? "" };
  });
  const settled = await Promise.allSettled(opened);
  let rss: number | undefined;
  for (let i = 0; i < 3; i++) {
    const r = await rssKib(target.pid);
    if (r !== undefined && (rss === undefined || r > rss)) rss = r;
    await new Promise((r) => setTimeout(r, 100));
  }
  const held = Number(await (await fetch(`${drip}/release`)).text());
  if (held < n) log(`warning: only ${held} of ${n} streams were open at once`);
  let errors = 0;
  for (const s of settled) {
    if (s.status === "rejected") {
      errors++;
      continue;
    }
    let text = s.value.text;
    try {
      for (;;) {
        const { done, value } = await s.value.reader.read();
        if (done) break;
        text += value;
      }
    } catch {
      errors++;
      continue;
    }
    if (!text.endsWith("data: [DONE]\n\n")) errors++;
  }
  return { rss, errors };
}

/**
 * RSS of a fresh BitRouter while `n` streams are open through it at once (and of a bare floor
 * doing the same, for scale), against an upstream that holds them open.
 */
export async function measureStreams(
  ctx: FreshContext,
  n: number,
  withFloor: boolean,
): Promise<StreamsRss | null> {
  const file = `${ctx.dir}/drip.ts`;
  await Deno.writeTextFile(file, dripUpstreamSource());
  const drip = spawn("drip upstream", Deno.execPath(), ["run", "--allow-net", file], {
    cwd: ctx.repo,
  });
  try {
    const dripOrigin = (await drip.waitForLine(/(http:\/\/127\.0\.0\.1:\d+)/, 30_000))[1];
    const extra =
      `  up_drip:\n    api_base: ${dripOrigin}/v1\n    models:\n      - id: bench-drip\n`;
    const request = JSON.stringify({ ...JSON.parse(REQUEST.stream), model: "bench-drip" });
    const router = await startBitRouter(ctx.origin, ctx.dir, ctx.repo, extra);
    let idle: number | undefined;
    let held: { rss: number | undefined; errors: number };
    try {
      await checkTarget(router, EXPECT);
      idle = await settledRss(router.proc);
      held = await holdStreams(router.url.stream, request, dripOrigin, router.proc, n);
    } finally {
      await router.proc.stop();
    }
    let floorKib: number | null = null;
    if (withFloor) {
      const floor = await startFloor(dripOrigin, ctx.repo, {
        signal: false,
        contract: false,
        guarded: false,
      });
      try {
        const url = new URL(floor.url.plain).origin + "/v1/chat/completions";
        const f = await holdStreams(url, request, dripOrigin, floor.proc!, n);
        floorKib = f.rss ?? null;
        if (f.errors) log(`warning: ${f.errors} of ${n} streams through the floor failed`);
      } finally {
        await floor.proc?.stop();
      }
    }
    if (held.rss === undefined || idle === undefined) {
      log("warning: RSS under open streams not measured (needs Linux /proc)");
      return null;
    }
    return {
      streams: n,
      bitrouter_idle_kib: idle,
      bitrouter_kib: held.rss,
      floor_kib: floorKib,
      max_mib: STREAMS_MAX_MIB,
      ok: held.rss <= STREAMS_MAX_MIB * 1024 && held.errors === 0,
      errors: held.errors,
    };
  } finally {
    await drip.stop();
  }
}

/** What measureDrift needs of the run so far. */
export interface DriftInput {
  tools: Tools;
  router: Target & { proc: Proc };
  scripts: Record<Kind, string>;
  /** RSS of the router when it was ready, before any load. */
  readyKib: number;
  /** Whether the load runs warmed the router up already. */
  warmed: boolean;
  conns: number;
  duration: number;
  /** Requests after the warm-up (SPEC §9: 100,000). */
  requests: number;
  /** Rounds to run whatever the count (`--soak`), or 0. */
  soak: number;
  floor?: Proc;
  floorReadyKib: number | null;
  /** RSS samples taken during the load runs, carried into the JSON. */
  samples: number[];
}

/**
 * Runs `requests` more requests through the measured BitRouter, plain and stream in turn, in
 * rounds of `duration`, and compares its RSS before and after.
 */
export async function measureDrift(input: DriftInput): Promise<Drift | null> {
  const { tools, router, scripts, conns } = input;
  await pinServers(tools, conns === 1 ? tools.pinCpu : tools.allCpus);
  if (!input.warmed) {
    for (const kind of KINDS) {
      await runWrk(tools, scripts[kind], router.url[kind], conns, input.duration);
    }
  }
  const before = await rssKib(router.proc.pid);
  if (before === undefined) return null;
  const samples = [...input.samples];
  let requests = 0;
  const rounds: Drift["rounds"] = [];
  const minRounds = input.soak || 2;
  // Bounded in case BitRouter is far slower than expected.
  const maxRounds = input.soak || 100;
  for (let i = 0; (requests < input.requests || i < minRounds) && i < maxRounds; i++) {
    const kind: Kind = i % 2 === 0 ? "plain" : "stream";
    const s = await runWrk(tools, scripts[kind], router.url[kind], conns, input.duration);
    requests += s.requests;
    const rss = await rssKib(router.proc.pid);
    if (rss !== undefined) {
      samples.push(rss);
      rounds.push({ requests, rss_kib: rss });
    }
    log(`drift: ${requests} requests, RSS ${rss ?? "?"} KiB`);
  }
  const after = await rssKib(router.proc.pid) ?? before;
  const growth = after - before;
  return {
    ready_kib: input.readyKib,
    warmed_by: input.warmed ? "the measurements" : `a warm-up of ${input.duration}s per kind`,
    before_kib: before,
    after_kib: after,
    requests_between: requests,
    growth_kib: growth,
    growth_pct: before ? (growth / before) * 100 : 0,
    max_growth_pct: DRIFT_GROWTH_MAX_PCT,
    flat: growth <= before * DRIFT_GROWTH_MAX_PCT / 100,
    samples_kib: samples,
    rounds,
    floor_ready_kib: input.floorReadyKib,
    floor_end_kib: (input.floor ? await rssKib(input.floor.pid) : undefined) ?? null,
  };
}
