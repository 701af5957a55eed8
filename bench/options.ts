/** `deno task bench`'s options: what to measure, how long, and how to report it. */
import { DEFAULT_TARGETS, type TargetName, TARGETS } from "./targets.ts";
import { MEMORY_FIGURES, type MemoryFigure } from "./memory.ts";
import { PORTKEY_VERSION } from "./portkey.ts";

/** Everything argv can set. */
export interface Options {
  duration: number;
  warmup: number;
  json: boolean | string;
  targets: TargetName[];
  conns: number[];
  upstream: "auto" | "nginx" | "deno";
  strict: boolean;
  pin: boolean;
  floorSignal: boolean;
  /** The floor also does what SPEC §4 asks of every answer (passthrough.ts --contract). */
  floorContract: boolean;
  /** The floor also relays the way SPEC §5 forces a router to (passthrough.ts --guarded). */
  floorGuarded: boolean;
  /** Rounds of the drift run (0: until driftRequests); RSS is sampled after each. */
  soak: number;
  /** Measure the translated path (messages → chat, streaming) against chat passthrough. */
  translation: boolean;
  /** The wrk runs of every target (and the translated path); off with --no-load. */
  load: boolean;
  /** The memory and start-up figures to measure (default: all when BitRouter is a target). */
  memory: MemoryFigure[];
  /** Fresh starts for the start-time and idle figures. */
  starts: number;
  /** Streams held open at once for the streams figure. */
  streams: number;
  /** Requests after the warm-up in the drift figure. */
  driftRequests: number;
  /** Report what `deno task compile` embeds. */
  compileSize: boolean;
}

/** The help text. */
export const USAGE = `usage: deno task bench [OPTIONS]

Load (wrk against each target, plain and streaming, at each connection count):
  --duration D     length of each measured wrk run (default 5s)
  --warmup D       wrk run before each measurement, not counted (default 1s; 0 to skip)
  --conns LIST     connection counts (default 1,32)
  --targets LIST   of upstream, floor, bitrouter, portkey (default upstream,floor,bitrouter).
                   portkey: Portkey's gateway ${PORTKEY_VERSION}, installed with npm on first use
                   into $XDG_CACHE_HOME/bitrouter-bench/portkey (~/.cache/… without it) and run
                   with node; BitRouter's throughput is reported as a multiple of Portkey's
                   (SPEC §9: ≥ 10×), e.g. --targets bitrouter,portkey
  --upstream KIND  auto|nginx|deno: the fixed upstream (default auto: nginx when installed)
  --no-pin         do not pin 1-connection runs to one CPU (see findTools in load.ts)
  --floor-signal   the floor also passes the client's AbortSignal to fetch, as BitRouter must
  --floor-contract the floor also parses the body for \`model\` and sends the four response
                   headers SPEC §4 requires (x-request-id, x-bitrouter-*), still relaying natively
  --floor-guarded  the floor also relays as SPEC §5 forces a router to on this runtime: a whole
                   answer read before it is sent, a stream passed through JavaScript chunk by
                   chunk (see passthrough.ts); with --floor-contract, a router with nothing else
  --no-translation skip the translated path (a Messages client streaming from the chat upstream,
                   short and long streams, against chat passthrough; on by default)
  --no-load        skip the wrk runs above (and the translated path): memory or compile only

Memory and start-up (SPEC §9), on Linux; default all when bitrouter is a target:
  --memory LIST    of start, idle, streams, drift; or all, or none
                   start    spawn to the ready line of \`main.ts serve\`, and of dist/bitrouter
                            when \`deno task compile\` built one (then it is judged), discovery
                            off, median of --starts fresh starts (≤ 300 ms)
                   idle     RSS of a fresh BitRouter over a fresh bare floor, medians of --starts
                            starts, each after one request of each kind (≤ 1.5×)
                   streams  RSS of a fresh BitRouter while --streams streams are open through it
                            at once, held by an upstream that waits to finish them (≤ 150 MiB);
                            the bare floor holding as many is shown for scale
                   drift    RSS of the measured BitRouter after the load runs (or a warm-up)
                            against after --drift-requests more (≤ 5% growth)
  --no-memory      same as --memory none
  --starts N       fresh starts for start and idle (default 5)
  --streams N      streams held open at once (default 512)
  --drift-requests N  requests in the drift run (default 100000)
  --soak N         run the drift check for N rounds of --duration (plain and stream in turn),
                   printing RSS after each, whatever the request count

Size:
  --compile-size   what \`deno task compile\` embeds: the built dist/bitrouter's size if there
                   is one, deno compile's listing of the files the task's flags embed, and the
                   module graph and npm packages of main.ts (deno info)

Output:
  --json[=FILE]    print the results as one JSON document (or write them to FILE)
  --strict         exit 1 when the SPEC §9 budget is missed
  -h, --help       this text
`;

/** A misuse of the command line. */
export class UsageError extends Error {}

/** Parses argv into Options; throws UsageError on a misuse. */
export function parseOptions(args: string[]): Options | "help" {
  const o: Options = {
    duration: 5,
    warmup: 1,
    json: false,
    targets: [...DEFAULT_TARGETS],
    conns: [1, 32],
    upstream: "auto",
    strict: false,
    pin: true,
    floorSignal: false,
    floorContract: false,
    floorGuarded: false,
    soak: 0,
    translation: true,
    load: true,
    memory: [],
    starts: 5,
    streams: 512,
    driftRequests: 100_000,
    compileSize: false,
  };
  let memory: MemoryFigure[] | undefined;
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].startsWith("--") && args[i].includes("=")
      ? [args[i].slice(0, args[i].indexOf("=")), args[i].slice(args[i].indexOf("=") + 1)]
      : [args[i], undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    const count = (min: number) => {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) {
        throw new UsageError(`${flag}: expected a whole number ≥ ${min}, got "${v}"`);
      }
      return n;
    };
    switch (flag) {
      case "-h":
      case "--help":
        return "help";
      case "--duration":
        o.duration = parseSeconds(value(), flag, 1);
        break;
      case "--warmup":
        o.warmup = parseSeconds(value(), flag, 0);
        break;
      case "--json":
        o.json = inline ?? true;
        break;
      case "--strict":
        o.strict = true;
        break;
      case "--no-pin":
        o.pin = false;
        break;
      case "--soak":
        o.soak = count(2);
        break;
      case "--floor-signal":
        o.floorSignal = true;
        break;
      case "--floor-contract":
        o.floorContract = true;
        break;
      case "--floor-guarded":
        o.floorGuarded = true;
        break;
      case "--no-translation":
        o.translation = false;
        break;
      case "--no-load":
        o.load = false;
        break;
      case "--memory":
        memory = parseMemory(value());
        break;
      case "--no-memory":
        memory = [];
        break;
      case "--starts":
        o.starts = count(1);
        break;
      case "--streams":
        o.streams = count(1);
        break;
      case "--drift-requests":
        o.driftRequests = count(1);
        break;
      case "--compile-size":
        o.compileSize = true;
        break;
      case "--conns":
        o.conns = value().split(",").map((s) => {
          const n = Number(s);
          if (!Number.isInteger(n) || n < 1) throw new UsageError(`--conns: bad count "${s}"`);
          return n;
        });
        break;
      case "--targets":
        o.targets = value().split(",").map((s) => {
          if (!TARGETS.includes(s as TargetName)) {
            throw new UsageError(`--targets: "${s}" is not one of ${TARGETS.join(", ")}`);
          }
          return s as TargetName;
        });
        break;
      case "--upstream": {
        const v = value();
        if (v !== "auto" && v !== "nginx" && v !== "deno") {
          throw new UsageError(`--upstream: expected auto, nginx or deno, got "${v}"`);
        }
        o.upstream = v;
        break;
      }
      default:
        throw new UsageError(`unknown option ${args[i]}`);
    }
  }
  o.memory = memory ?? (o.targets.includes("bitrouter") ? [...MEMORY_FIGURES] : []);
  if (o.memory.includes("drift") && !o.targets.includes("bitrouter")) {
    throw new UsageError(
      "--memory drift measures the BitRouter target: add bitrouter to --targets",
    );
  }
  return o;
}

/** The figures of `--memory LIST`. */
function parseMemory(text: string): MemoryFigure[] {
  if (text === "all") return [...MEMORY_FIGURES];
  if (text === "none") return [];
  return text.split(",").map((s) => {
    if (!MEMORY_FIGURES.includes(s as MemoryFigure)) {
      throw new UsageError(
        `--memory: "${s}" is not one of ${MEMORY_FIGURES.join(", ")}, all or none`,
      );
    }
    return s as MemoryFigure;
  });
}

/** Whole seconds from "5s", "1m" or "5" (wrk takes whole seconds). */
function parseSeconds(text: string, flag: string, min: number): number {
  const m = /^(\d+)(s|m)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag}: expected a duration like 5s or 1m, got "${text}"`);
  const n = Number(m[1]) * (m[2] === "m" ? 60 : 1);
  if (n < min) throw new UsageError(`${flag}: must be at least ${min}s`);
  return n;
}
