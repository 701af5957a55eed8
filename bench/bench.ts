/**
 * BitRouter's benchmark (SPEC §9): `deno task bench [--duration 5s] [--warmup 1s] [--json[=FILE]]`;
 * `deno task bench --help` lists every option.
 *
 * One fast upstream (nginx returning a fixed chat.completion and a fixed SSE stream, or a tiny Deno
 * server when nginx is not installed: upstream.ts) and the targets measured against it in the same
 * run (targets.ts, portkey.ts):
 *   upstream   the upstream directly (what the machine can do at all)
 *   floor      bench/passthrough.ts, a bare Deno.serve + fetch passthrough (what the runtime can do)
 *   bitrouter  `main.ts serve` with a config routing three models to the upstream
 *   portkey    Portkey's gateway on node (optional), for SPEC §9's ≥ 10× its throughput
 * `wrk` loads each at 1 and 32 connections, plain and streaming (load.ts). The verdict is a ratio
 * to the floor, never an absolute time: ≥ 90% of its throughput and ≤ 15 µs added median latency
 * at one connection (report.ts).
 *
 * Then the translated path (translation.ts): a Messages client streaming from the chat upstream
 * against a chat client, over a short and a long stream, giving the cost per upstream event.
 *
 * Then the memory and start-up figures (memory.ts): start to the ready line, idle RSS against the
 * bare floor's, RSS with 512 streams open, and RSS drift across 100,000 requests. With
 * --compile-size, what `deno task compile` embeds (compile_size.ts).
 *
 * One-connection runs pin every process to one CPU (taskset, Linux): see findTools in load.ts.
 */
import { findExecutable, log, type Proc, rssKib, stopAll } from "./proc.ts";
import { PLAIN_BODY, startUpstream, STREAM_BODY } from "./upstream.ts";
import {
  checkTarget,
  startBitRouter,
  startFloor,
  type Target,
  type TargetName,
  upstreamTarget,
} from "./targets.ts";
import { nodeVersion, PORTKEY_VERSION, startPortkey } from "./portkey.ts";
import { findTools, pinServers, type Result, runLoad, writeScripts } from "./load.ts";
import {
  checkTranslation,
  runTranslation,
  translationCosts,
  type TranslationResult,
} from "./translation.ts";
import { measureDrift, measureStarts, measureStreams, type MemoryFigures } from "./memory.ts";
import { type CompileSize, compileSize } from "./compile_size.ts";
import {
  ADDED_P50_MAX_US,
  compare,
  compareToPortkey,
  PORTKEY_RATIO_MIN,
  report,
  THROUGHPUT_MIN,
} from "./report.ts";
import { type Options, parseOptions, USAGE } from "./options.ts";

/** Starts one target in front of the upstream at `origin`. */
async function startTarget(
  name: TargetName,
  origin: string,
  dir: string,
  repo: string,
  opts: Options,
): Promise<Target> {
  switch (name) {
    case "upstream":
      return upstreamTarget(origin);
    case "floor":
      return await startFloor(origin, repo, {
        signal: opts.floorSignal,
        contract: opts.floorContract,
        guarded: opts.floorGuarded,
      });
    case "bitrouter":
      return await startBitRouter(origin, dir, repo);
    case "portkey":
      return await startPortkey(origin);
  }
}

async function main(opts: Options): Promise<number> {
  const drift = opts.memory.includes("drift");
  const wrk = findExecutable("wrk");
  if (!wrk && (opts.load || drift)) {
    console.error("install wrk: apt-get install wrk nginx-light");
    return 1;
  }
  const tools = await findTools(wrk ?? "wrk", opts.pin);
  const repo = decodeURIComponent(new URL("../", import.meta.url).pathname);
  const dir = await Deno.makeTempDir({ prefix: "bitrouter-bench-" });
  const stop = () => {
    log("interrupted; stopping children");
    stopAll().then(() => Deno.remove(dir, { recursive: true })).catch(() => {}).finally(() =>
      Deno.exit(130)
    );
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, stop);
  try {
    const needUpstream = opts.load || opts.memory.length > 0;
    const upstream = needUpstream ? await startUpstream(opts, dir, repo) : undefined;
    if (upstream) log(`upstream: ${upstream.kind} on ${upstream.origin}`);
    // Without the load runs, only the drift figure needs a running target: BitRouter.
    const names = opts.load ? opts.targets : drift ? ["bitrouter" as const] : [];
    const targets: Target[] = [];
    for (const name of names) {
      targets.push(await startTarget(name, upstream!.origin, dir, repo, opts));
      log(`${name}: ready`);
    }
    for (const t of targets) await checkTarget(t, { plain: PLAIN_BODY, stream: STREAM_BODY });
    const scripts = await writeScripts(dir, targets);

    const router = targets.find((t): t is Target & { proc: Proc } =>
      t.name === "bitrouter" && t.proc !== undefined
    );
    const readyRss = router ? await rssKib(router.proc.pid) : undefined;
    const floor = targets.find((t) => t.name === "floor");
    const floorReadyRss = floor?.proc ? await rssKib(floor.proc.pid) : undefined;
    const samples: number[] = [];
    const results: Result[] = opts.load
      ? await runLoad(tools, targets, scripts, opts, async (t) => {
        if (t === router) {
          const rss = await rssKib(router.proc.pid);
          if (rss !== undefined) samples.push(rss);
        }
      })
      : [];

    let translation: TranslationResult[] = [];
    if (router && opts.load && opts.translation) {
      const origin = new URL(router.url.plain).origin;
      await checkTranslation(origin);
      translation = await runTranslation(tools, dir, origin, opts);
    }

    const memory: MemoryFigures = { start: null, idle: null, streams: null, drift: null };
    if (drift && router && readyRss !== undefined) {
      memory.drift = await measureDrift({
        tools,
        router,
        scripts: scripts.get(router)!,
        readyKib: readyRss,
        warmed: results.length > 0,
        conns: Math.max(...opts.conns),
        duration: opts.duration,
        requests: opts.driftRequests,
        soak: opts.soak,
        floor: floor?.proc,
        floorReadyKib: floorReadyRss ?? null,
        samples,
      });
    }
    if (drift && !memory.drift) {
      log("warning: BitRouter's RSS was not measured (needs Linux /proc)");
    }
    // The fresh processes are measured alone: the load targets are done with.
    await Promise.all(targets.map((t) => t.proc?.stop()));
    await pinServers(tools, tools.allCpus);
    const ctx = { origin: upstream?.origin ?? "", dir, repo };
    const start = opts.memory.includes("start"), idle = opts.memory.includes("idle");
    if (start || idle) {
      log(
        `memory: ${opts.starts} fresh starts of BitRouter${idle ? " and of the bare floor" : ""}`,
      );
      Object.assign(memory, await measureStarts(ctx, opts.starts, { start, idle }));
    }
    if (opts.memory.includes("streams")) {
      log(`memory: ${opts.streams} streams open at once through a fresh BitRouter`);
      memory.streams = await measureStreams(ctx, opts.streams, true);
    }
    const compile: CompileSize | null = opts.compileSize ? await compileSize(repo, dir) : null;

    const comparisons = compare(results);
    const portkey = compareToPortkey(results);
    const pass = comparisons.every((c) =>
      c.throughput_ok && c.latency_ok !== false && c.errors_ok
    ) &&
      portkey.every((c) => c.ok) &&
      (memory.drift?.flat ?? true) && (memory.start?.ok ?? true) && (memory.idle?.ok ?? true) &&
      (memory.streams?.ok ?? true);
    const judged = comparisons.length + portkey.length > 0 ||
      Object.values(memory).some((m) => m !== null);
    const cpus = navigator.hardwareConcurrency;
    const pinning = (tools.pinCpu ? `1-conn runs pinned to CPU ${tools.pinCpu}` : "no pinning") +
      (opts.floorSignal ? ", floor with AbortSignal" : "") +
      (opts.floorContract ? ", floor with SPEC §4's body read and headers" : "") +
      (opts.floorGuarded ? ", floor relaying as SPEC §5 requires" : "");
    const node = opts.targets.includes("portkey") && opts.load ? await nodeVersion() : null;
    const header = `BitRouter bench: upstream ${upstream?.kind ?? "none"}, wrk ${opts.duration}s ` +
      `runs (warmup ${opts.warmup}s), ${cpus} CPUs, ${pinning}, deno ${Deno.version.deno}, ` +
      Deno.build.target + (node ? `; Portkey ${PORTKEY_VERSION} on node ${node}` : "");
    const doc = {
      date: new Date().toISOString(),
      deno: Deno.version.deno,
      target: Deno.build.target,
      cpus,
      upstream: upstream?.kind ?? null,
      duration_secs: opts.duration,
      warmup_secs: opts.warmup,
      pinned_cpu: tools.pinCpu ?? null,
      floor_signal: opts.floorSignal,
      floor_contract: opts.floorContract,
      floor_guarded: opts.floorGuarded,
      budget: {
        throughput_ratio_min: THROUGHPUT_MIN,
        added_p50_us_max: ADDED_P50_MAX_US,
        portkey_ratio_min: PORTKEY_RATIO_MIN,
        memory_growth_pct_max: memory.drift?.max_growth_pct ?? null,
      },
      results,
      comparisons,
      portkey: portkey.length ? { version: PORTKEY_VERSION, node, comparisons: portkey } : null,
      translation: { results: translation, costs: translationCosts(translation) },
      /** The drift figure, as before the other memory figures existed. */
      memory: memory.drift,
      start: memory.start,
      idle: memory.idle,
      streams: memory.streams,
      compile,
      pass: judged ? pass : null,
    };
    const text = report({
      header,
      results,
      comparisons,
      portkey,
      translation,
      memory,
      compile,
    });
    if (opts.json === true) {
      log(text);
      console.log(JSON.stringify(doc, null, 2));
    } else {
      console.log(text);
      if (typeof opts.json === "string") {
        await Deno.writeTextFile(opts.json, JSON.stringify(doc, null, 2) + "\n");
        log(`wrote ${opts.json}`);
      }
    }
    return opts.strict && !pass ? 1 : 0;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, stop);
    await stopAll();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  let opts: Options | "help";
  try {
    opts = parseOptions(Deno.args);
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    Deno.exit(2);
  }
  if (opts === "help") {
    console.log(USAGE);
    Deno.exit(0);
  }
  try {
    Deno.exit(await main(opts));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
