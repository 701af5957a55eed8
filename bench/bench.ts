/**
 * BitRouter's benchmark (SPEC §9): `deno task bench [--duration 5s] [--warmup 1s] [--json[=FILE]]`.
 *
 * One fast upstream (nginx returning a fixed chat.completion and a fixed SSE stream, or a tiny Deno
 * server when nginx is not installed) and three targets measured against it in the same run:
 *   upstream   the upstream directly (what the machine can do at all)
 *   floor      bench/passthrough.ts, a bare Deno.serve + fetch passthrough (what the runtime can do)
 *   bitrouter  `main.ts serve` with a config routing three models to the upstream
 * `wrk` loads each at 1 and 32 connections, plain and streaming. The verdict is a ratio to the
 * floor, never an absolute time: ≥ 90% of its throughput and ≤ 30 µs added median latency at one
 * connection, and flat memory across ≥ 10,000 requests.
 *
 * Then the translated path (issue 3): a Messages client streaming from the chat upstream against
 * a chat client, over a short and a long stream, giving the cost per upstream event as a slope.
 *
 * One-connection runs pin every process to one CPU (taskset, Linux): see findTools.
 * Other options: --targets upstream,floor,bitrouter  --conns 1,32  --upstream auto|nginx|deno
 * --strict (exit 1 when the budget is missed)  --floor-signal  --floor-contract  --floor-guarded
 * --no-pin  --no-translation  --soak N.
 */

type TargetName = "upstream" | "floor" | "bitrouter";
type Kind = "plain" | "stream";
/** Same-protocol chat streaming, or a Messages client translated onto the chat upstream. */
type TranslationPath = "passthrough" | "translated";
type StreamLength = "short" | "long";

interface Options {
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
  /** Rounds of the memory run (0: until MEMORY_REQUESTS); RSS is sampled after each. */
  soak: number;
  /** Measure the translated path (messages → chat, streaming) against chat passthrough. */
  translation: boolean;
}

interface TranslationResult {
  path: TranslationPath;
  length: StreamLength;
  conns: number;
  rps: number;
  p50_us: number;
  p99_us: number;
  errors: number;
  /** events the upstream sends per request ([DONE] included) */
  upstream_events: number;
}

/**
 * What translating costs, from runs of a short and a long stream: the slope of p50 over the
 * upstream's event count is the cost of one event, free of the per-request work.
 */
interface TranslationCost {
  conns: number;
  /** p50 added per upstream event by the same-protocol relay (the slope, for scale) */
  passthrough_per_event_us: number;
  /** p50 added per upstream event when each is parsed and translated */
  translated_per_event_us: number;
  /** translated_per_event_us − passthrough_per_event_us: what translation adds per event */
  added_per_event_us: number;
  /** p50 of a translated short stream minus a passthrough one: per request, all included */
  short_added_p50_us: number;
  short_throughput_ratio: number;
  long_throughput_ratio: number;
}

interface WrkSummary {
  requests: number;
  duration_us: number;
  bytes: number;
  connect_errors: number;
  read_errors: number;
  write_errors: number;
  status_errors: number;
  timeouts: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  mean_us: number;
  max_us: number;
}

interface Result {
  target: TargetName;
  kind: Kind;
  conns: number;
  threads: number;
  requests: number;
  rps: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  mean_us: number;
  errors: number;
  bytes_per_request: number;
}

interface Comparison {
  kind: Kind;
  conns: number;
  throughput_ratio: number;
  added_p50_us: number;
  throughput_ok: boolean;
  /** Only judged at one connection, where latency is not queueing. */
  latency_ok: boolean | null;
  errors_ok: boolean;
}

interface Memory {
  ready_kib: number;
  before_kib: number;
  after_kib: number;
  requests_between: number;
  growth_kib: number;
  growth_pct: number;
  flat: boolean;
  samples_kib: number[];
  /** The memory run round by round: requests so far and RSS after the round. */
  rounds: { requests: number; rss_kib: number }[];
  /** The floor's RSS at start and at the end, for scale: what the runtime itself settles at. */
  floor_ready_kib: number | null;
  floor_end_kib: number | null;
}

const TARGETS: TargetName[] = ["upstream", "floor", "bitrouter"];
const THROUGHPUT_MIN = 0.9;
const ADDED_P50_MAX_US = 30;
const MEMORY_REQUESTS = 10_000;
/** RSS growth tolerated across the memory run before it counts as not flat. */
const MEMORY_GROWTH_MAX_PCT = 10;

const USAGE = `usage: deno task bench [OPTIONS]

  --duration D     length of each measured wrk run (default 5s)
  --warmup D       wrk run before each measurement, not counted (default 1s; 0 to skip)
  --conns LIST     connection counts (default 1,32)
  --targets LIST   upstream,floor,bitrouter (default all three)
  --upstream KIND  auto|nginx|deno: the fixed upstream (default auto: nginx when installed)
  --json[=FILE]    print the results as one JSON document (or write them to FILE)
  --strict         exit 1 when the SPEC §9 budget is missed
  --no-pin         do not pin 1-connection runs to one CPU (see findTools in bench.ts)
  --floor-signal   the floor also passes the client's AbortSignal to fetch, as BitRouter must
  --floor-contract the floor also parses the body for \`model\` and sends the four response
                   headers SPEC §4 requires (x-request-id, x-bitrouter-*), still relaying natively
  --floor-guarded  the floor also relays as SPEC §5 forces a router to on this runtime: a whole
                   answer read before it is sent, a stream passed through JavaScript chunk by
                   chunk (see passthrough.ts); with --floor-contract, a router with nothing else
  --soak N         run the memory check for N rounds of --duration (plain and stream in turn),
                   printing RSS after each, instead of stopping after 10,000 requests
  --no-translation skip the translated path (a Messages client streaming from the chat upstream,
                   short and long streams, against chat passthrough; on by default)
  -h, --help       this text
`;

const PLAIN_BODY = JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1700000000,
  model: "bench-model",
  choices: [{
    index: 0,
    message: { role: "assistant", content: "Hello! How can I help you today?" },
    finish_reason: "stop",
  }],
  usage: { prompt_tokens: 9, completion_tokens: 9, total_tokens: 18 },
});

/** A chat.completion.chunk SSE stream: one event per word, the last one finishing, then [DONE]. */
function streamBody(words: string[]): string {
  const chunks = words.map((w, i) =>
    JSON.stringify({
      id: "chatcmpl-bench",
      object: "chat.completion.chunk",
      created: 1700000000,
      model: "bench-model",
      choices: [{
        index: 0,
        delta: i === 0 ? { role: "assistant", content: w } : w ? { content: w } : {},
        finish_reason: i === words.length - 1 ? "stop" : null,
      }],
    })
  );
  return chunks.map((c) => `data: ${c}\n\n`).join("") + "data: [DONE]\n\n";
}

const STREAM_BODY = streamBody([
  "Hello",
  "!",
  " How",
  " can",
  " I",
  " help",
  " you",
  " today",
  "?",
  "",
]);

/** The long stream of the translation runs: 10× the events, so per-event costs stand out. */
const LONG_STREAM_BODY = streamBody([
  ...Array.from({ length: 109 }, (_, i) => (i === 0 ? "Word" : ` word${i}`)),
  "",
]);

/** Upstream events (data: lines, [DONE] included) in a stream body. */
function eventCount(body: string): number {
  return body.split("\n\n").filter((e) => e.startsWith("data: ")).length;
}

const REQUEST = {
  plain: JSON.stringify({
    model: "bench-model",
    messages: [{ role: "user", content: "Say hello." }],
    max_tokens: 16,
  }),
  stream: JSON.stringify({
    model: "bench-stream",
    messages: [{ role: "user", content: "Say hello." }],
    max_tokens: 16,
    stream: true,
  }),
};

/** Upstream paths per kind; the floor forwards the path unchanged. */
const UPSTREAM_PATH: Record<Kind, string> = {
  plain: "/v1/chat/completions",
  stream: "/stream/v1/chat/completions",
};

/** Where the upstream serves LONG_STREAM_BODY (BitRouter's model `bench-long`). */
const LONG_PATH = "/long/v1/chat/completions";

/** A streaming request per translation run: the client's protocol, and the stream's length. */
const TRANSLATION_REQUEST: Record<TranslationPath, Record<StreamLength, string>> = {
  passthrough: {
    short: REQUEST.stream,
    long: JSON.stringify({ ...JSON.parse(REQUEST.stream), model: "bench-long" }),
  },
  translated: {
    short: messagesRequest("bench-stream"),
    long: messagesRequest("bench-long"),
  },
};

/** The Anthropic Messages twin of REQUEST.stream, for `model`. */
function messagesRequest(model: string): string {
  return JSON.stringify({
    model,
    max_tokens: 16,
    messages: [{ role: "user", content: "Say hello." }],
    stream: true,
  });
}

/** The client path of each translation run, on BitRouter. */
const TRANSLATION_CLIENT_PATH: Record<TranslationPath, string> = {
  passthrough: "/v1/chat/completions",
  translated: "/v1/messages",
};

class UsageError extends Error {}

/** Parses argv into Options; throws UsageError on a misuse. */
function parseOptions(args: string[]): Options | "help" {
  const o: Options = {
    duration: 5,
    warmup: 1,
    json: false,
    targets: [...TARGETS],
    conns: [1, 32],
    upstream: "auto",
    strict: false,
    pin: true,
    floorSignal: false,
    floorContract: false,
    floorGuarded: false,
    soak: 0,
    translation: true,
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].startsWith("--") && args[i].includes("=")
      ? [args[i].slice(0, args[i].indexOf("=")), args[i].slice(args[i].indexOf("=") + 1)]
      : [args[i], undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
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
      case "--soak": {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 2) {
          throw new UsageError("--soak: expected a round count ≥ 2");
        }
        o.soak = n;
        break;
      }
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
  return o;
}

/** Whole seconds from "5s", "1m" or "5" (wrk takes whole seconds). */
function parseSeconds(text: string, flag: string, min: number): number {
  const m = /^(\d+)(s|m)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag}: expected a duration like 5s or 1m, got "${text}"`);
  const n = Number(m[1]) * (m[2] === "m" ? 60 : 1);
  if (n < min) throw new UsageError(`${flag}: must be at least ${min}s`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Child processes: every one is registered so that a failure or Ctrl-C still stops them all.

/** A running child whose stdout and stderr are drained into a buffer of recent lines. */
class Proc {
  readonly child: Deno.ChildProcess;
  readonly recent: string[] = [];
  #waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  exited = false;
  readonly done: Promise<Deno.CommandStatus>;
  /** Resolves once both output streams have been read to their end. */
  readonly drained: Promise<void>;

  constructor(readonly name: string, cmd: string, args: string[], opts: { cwd?: string } = {}) {
    this.child = new Deno.Command(cmd, {
      args,
      cwd: opts.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.done = this.child.status.finally(() => this.exited = true);
    this.drained = Promise.all([this.#drain(this.child.stdout), this.#drain(this.child.stderr)])
      .then(() => {});
  }

  get pid(): number {
    return this.child.pid;
  }

  async #drain(stream: ReadableStream<Uint8Array>) {
    let rest = "";
    try {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        const lines = (rest + text).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) this.#line(line);
      }
    } catch {
      // the process went away; what was read is in `recent`
    }
    if (rest) this.#line(rest);
  }

  #line(raw: string) {
    // deno-lint-ignore no-control-regex
    const line = raw.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").trimEnd();
    this.recent.push(line);
    if (this.recent.length > 40) this.recent.shift();
    for (const w of [...this.#waiters]) {
      const m = w.re.exec(line);
      if (m) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  }

  /** Resolves with the first output line matching `re`; rejects on exit or after `ms`. */
  waitForLine(re: RegExp, ms: number): Promise<RegExpExecArray> {
    for (const line of this.recent) {
      const m = re.exec(line);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name} printed no line matching ${re} within ${ms} ms`)),
        ms,
      );
      const waiter = {
        re,
        resolve: (m: RegExpExecArray) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      this.#waiters.push(waiter);
      this.done.then((s) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited with code ${s.code} before it was ready`));
      });
    });
  }

  /** The last lines it printed, for error messages. */
  tail(n = 15): string {
    return this.recent.slice(-n).map((l) => `    ${l}`).join("\n");
  }

  /** SIGTERM, then SIGKILL if it is still there after `ms`. */
  async stop(ms = 3000): Promise<void> {
    if (this.exited) return;
    try {
      this.child.kill("SIGTERM");
    } catch {
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), ms));
    if (await Promise.race([this.done.then(() => "done" as const), late]) === "late") {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await this.done;
    }
    clearTimeout(timer);
  }
}

const running = new Set<Proc>();

/** Spawns a registered child process. */
function spawn(name: string, cmd: string, args: string[], opts: { cwd?: string } = {}): Proc {
  const p = new Proc(name, cmd, args, opts);
  running.add(p);
  p.done.then(() => running.delete(p));
  return p;
}

/** Stops every child still running. */
async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

/** The path of an executable on PATH (or in `extraDirs`), if any. */
function findExecutable(name: string, extraDirs: string[] = []): string | undefined {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":").filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const path = `${dir}/${name}`;
    try {
      const info = Deno.statSync(path);
      if (info.isFile && (info.mode ?? 0o111) & 0o111) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A loopback port that was free a moment ago (for nginx, which cannot report port 0 back). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * The resident set size of a process in KiB, from /proc/PID/status (Linux only). Read through
 * `cat` because Deno wants --allow-all, not just --allow-read, to read a child's /proc entries.
 */
async function rssKib(pid: number): Promise<number | undefined> {
  if (Deno.build.os !== "linux") return undefined;
  try {
    const out = await new Deno.Command("cat", {
      args: [`/proc/${pid}/status`],
      stdout: "piped",
      stderr: "null",
    }).output();
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(new TextDecoder().decode(out.stdout));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function log(msg: string) {
  console.error(msg);
}

// ---------------------------------------------------------------------------------------------
// The upstream

/** Quotes text for an nginx single-quoted string: no variables, escapes for \ ' and newlines. */
function nginxString(text: string): string {
  if (text.includes("$")) throw new Error("nginx return text must not contain $");
  return "'" + text.replaceAll("\\", "\\\\").replaceAll("'", "\\'").replaceAll("\n", "\\n") + "'";
}

/** An nginx.conf that serves the fixed answers on 127.0.0.1:port, everything kept in `dir`. */
function nginxConf(dir: string, port: number): string {
  return `# generated by bench/bench.ts
master_process off;
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:${port};
    location = ${UPSTREAM_PATH.plain} {
      default_type application/json;
      return 200 ${nginxString(PLAIN_BODY)};
    }
    location = ${UPSTREAM_PATH.stream} {
      default_type text/event-stream;
      add_header Cache-Control no-cache;
      return 200 ${nginxString(STREAM_BODY)};
    }
    # Too long for \`return\` (nginx caps one config token at 4 KB): served from a file. The
    # static module refuses POST with 405; error_page turns that into the file, fetched as GET.
    location = ${LONG_PATH} {
      default_type text/event-stream;
      add_header Cache-Control no-cache;
      alias ${dir}/long.sse;
      error_page 405 =200 $uri;
    }
    location / { return 404; }
  }
}
`;
}

/** The same upstream in Deno, for machines without nginx. */
function denoUpstreamSource(port: number): string {
  return `// generated by bench/bench.ts
const PLAIN = ${JSON.stringify(PLAIN_BODY)};
const STREAM = ${JSON.stringify(STREAM_BODY)};
const LONG = ${JSON.stringify(LONG_STREAM_BODY)};
Deno.serve({
  hostname: "127.0.0.1",
  port: ${port},
  onListen: ({ port }) => console.log("upstream ready on " + port),
}, async (req) => {
  await req.arrayBuffer();
  const path = new URL(req.url).pathname;
  if (path === ${JSON.stringify(UPSTREAM_PATH.plain)}) {
    return new Response(PLAIN, { headers: { "content-type": "application/json" } });
  }
  if (path === ${JSON.stringify(UPSTREAM_PATH.stream)} || path === ${JSON.stringify(LONG_PATH)}) {
    return new Response(path === ${JSON.stringify(LONG_PATH)} ? LONG : STREAM, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
    });
  }
  return new Response("not found", { status: 404 });
});
`;
}

/** Starts the upstream and returns its origin, e.g. http://127.0.0.1:40123. */
async function startUpstream(
  opts: Options,
  dir: string,
  repo: string,
): Promise<{ origin: string; kind: "nginx" | "deno"; proc: Proc }> {
  const nginx = opts.upstream === "deno" ? undefined : findExecutable("nginx", ["/usr/sbin"]);
  if (opts.upstream === "nginx" && !nginx) {
    throw new Error("nginx not found (install it: apt-get install nginx-light)");
  }
  const port = freePort();
  const origin = `http://127.0.0.1:${port}`;
  let proc: Proc;
  if (nginx) {
    const conf = `${dir}/nginx.conf`;
    await Deno.writeTextFile(conf, nginxConf(dir, port));
    await Deno.writeTextFile(`${dir}/long.sse`, LONG_STREAM_BODY);
    proc = spawn("nginx", nginx, ["-p", dir, "-c", conf, "-e", `${dir}/error.log`]);
  } else {
    const file = `${dir}/upstream.ts`;
    await Deno.writeTextFile(file, denoUpstreamSource(port));
    proc = spawn("deno upstream", Deno.execPath(), ["run", "--allow-net", file], { cwd: repo });
  }
  await waitForHttp(origin + UPSTREAM_PATH.plain, proc, 15_000);
  return { origin, kind: nginx ? "nginx" : "deno", proc };
}

/** Polls `url` with the plain request until it answers 200. */
async function waitForHttp(url: string, proc: Proc, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let last = "";
  while (Date.now() < deadline) {
    if (proc.exited) break;
    try {
      const res = await fetch(url, {
        method: "POST",
        body: REQUEST.plain,
        headers: { "content-type": "application/json" },
      });
      await res.body?.cancel();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const why = proc.exited ? "it exited" : `last attempt: ${last}`;
  throw new Error(`${proc.name} did not answer ${url} (${why})\n${proc.tail()}`);
}

// ---------------------------------------------------------------------------------------------
// Targets

interface Target {
  name: TargetName;
  url: Record<Kind, string>;
  proc?: Proc;
}

/** Starts bench/passthrough.ts against the upstream. */
async function startFloor(
  origin: string,
  repo: string,
  flags: { signal: boolean; contract: boolean; guarded: boolean },
): Promise<Target> {
  const proc = spawn("passthrough", Deno.execPath(), [
    "run",
    "--allow-net",
    `${repo}bench/passthrough.ts`,
    origin,
    ...Object.entries(flags).filter(([, on]) => on).map(([flag]) => `--${flag}`),
  ], { cwd: repo });
  const m = await proc.waitForLine(/(http:\/\/127\.0\.0\.1:\d+)/, 30_000);
  const base = m[1];
  await waitForHttp(base + UPSTREAM_PATH.plain, proc, 10_000);
  return {
    name: "floor",
    url: { plain: base + UPSTREAM_PATH.plain, stream: base + UPSTREAM_PATH.stream },
    proc,
  };
}

/** The config BitRouter runs with: one provider per upstream path. */
function bitrouterConfig(origin: string): string {
  return `# generated by bench/bench.ts
server:
  listen: 127.0.0.1:4356
  skip_auth: true
  log_level: error
providers:
  up:
    api_base: ${origin}/v1
    models:
      - id: bench-model
  up_stream:
    api_base: ${origin}/stream/v1
    models:
      - id: bench-stream
  up_long:
    api_base: ${origin}/long/v1
    models:
      - id: bench-long
`;
}

/** Starts `main.ts serve` on a free port, with the permissions of the `start` task. */
async function startBitRouter(origin: string, dir: string, repo: string): Promise<Target> {
  try {
    Deno.statSync(`${repo}main.ts`);
  } catch {
    throw new Error(`${repo}main.ts not found (measure without it: --targets upstream,floor)`);
  }
  const config = `${dir}/bitrouter.yaml`;
  await Deno.writeTextFile(config, bitrouterConfig(origin));
  const proc = spawn("bitrouter", Deno.execPath(), [
    "run",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    "--allow-write",
    "main.ts",
    "serve",
    "-c",
    config,
    "--listen",
    "127.0.0.1:0",
  ], { cwd: repo });
  let base: string;
  try {
    base = (await proc.waitForLine(/(http:\/\/127\.0\.0\.1:\d+)/, 60_000))[1];
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${proc.tail()}`);
  }
  const url = base + "/v1/chat/completions";
  await waitForHttp(url, proc, 10_000);
  return { name: "bitrouter", url: { plain: url, stream: url }, proc };
}

/** One request of each kind through `target`, compared with the upstream's own answer. */
async function checkTarget(target: Target, expect: Record<Kind, string>): Promise<void> {
  for (const kind of ["plain", "stream"] as Kind[]) {
    const res = await fetch(target.url[kind], {
      method: "POST",
      body: REQUEST[kind],
      headers: { "content-type": "application/json" },
    });
    const body = await res.text();
    if (res.status !== 200) {
      throw new Error(
        `${target.name} answered ${kind} with HTTP ${res.status}: ${body.slice(0, 300)}` +
          (target.proc ? `\n${target.proc.tail()}` : ""),
      );
    }
    const type = res.headers.get("content-type") ?? "";
    const want = kind === "stream" ? "text/event-stream" : "application/json";
    if (!type.startsWith(want)) {
      log(`warning: ${target.name} ${kind}: content-type "${type}", expected ${want}`);
    }
    if (body !== expect[kind]) {
      log(
        `warning: ${target.name} ${kind}: body differs from the upstream's ` +
          `(${body.length} bytes vs ${expect[kind].length})`,
      );
    }
    if (target.name === "bitrouter" && !res.headers.get("x-bitrouter-provider")) {
      log("warning: bitrouter answered without x-bitrouter-provider (SPEC §4)");
    }
  }
}

/**
 * One request per translation run through BitRouter at `origin`: the passthrough answers are the
 * upstream's bytes, and each translated answer is a whole Messages stream with one text delta per
 * upstream content chunk, so the runs measure what they claim to.
 */
async function checkTranslation(origin: string): Promise<void> {
  for (const length of ["short", "long"] as StreamLength[]) {
    const upstream = length === "short" ? STREAM_BODY : LONG_STREAM_BODY;
    for (const path of ["passthrough", "translated"] as TranslationPath[]) {
      const res = await fetch(origin + TRANSLATION_CLIENT_PATH[path], {
        method: "POST",
        body: TRANSLATION_REQUEST[path][length],
        headers: { "content-type": "application/json" },
      });
      const body = await res.text();
      const what = `bitrouter ${path} ${length} stream`;
      if (res.status !== 200) {
        throw new Error(`${what}: HTTP ${res.status}: ${body.slice(0, 300)}`);
      }
      if (path === "passthrough") {
        if (body !== upstream) throw new Error(`${what}: body differs from the upstream's`);
        continue;
      }
      const deltas = body.split("\n").filter((l) => l === "event: content_block_delta").length;
      // Every chunk but the last (finish_reason, empty delta) and [DONE] carries text.
      const want = eventCount(upstream) - 2;
      if (!body.includes("event: message_stop") || deltas !== want) {
        throw new Error(
          `${what}: expected ${want} text deltas and message_stop, got ${deltas}:\n` +
            body.slice(0, 300),
        );
      }
    }
  }
}

/** Runs the translation comparison against BitRouter at `origin` at each connection count. */
async function runTranslation(
  tools: Tools,
  dir: string,
  origin: string,
  opts: Options,
): Promise<TranslationResult[]> {
  const results: TranslationResult[] = [];
  for (const conns of opts.conns) {
    await pinServers(tools, conns === 1 ? tools.pinCpu : tools.allCpus);
    for (const length of ["short", "long"] as StreamLength[]) {
      for (const path of ["passthrough", "translated"] as TranslationPath[]) {
        const script = `${dir}/${path}-${length}.lua`;
        await Deno.writeTextFile(script, wrkScript(TRANSLATION_REQUEST[path][length]));
        const url = origin + TRANSLATION_CLIENT_PATH[path];
        if (opts.warmup > 0) await runWrk(tools, script, url, conns, opts.warmup);
        const s = await runWrk(tools, script, url, conns, opts.duration);
        const r: TranslationResult = {
          path,
          length,
          conns,
          rps: s.requests / (s.duration_us / 1e6),
          p50_us: s.p50_us,
          p99_us: s.p99_us,
          errors: s.connect_errors + s.read_errors + s.write_errors + s.status_errors + s.timeouts,
          upstream_events: eventCount(length === "short" ? STREAM_BODY : LONG_STREAM_BODY),
        };
        results.push(r);
        log(
          `bitrouter ${path.padEnd(11)} ${length.padEnd(5)} c=${String(conns).padEnd(3)} ` +
            `${fmtInt(r.rps).padStart(7)} req/s  p50 ${fmtUs(r.p50_us)}  p99 ${fmtUs(r.p99_us)}${
              r.errors ? `  errors ${r.errors}` : ""
            }`,
        );
      }
    }
  }
  return results;
}

/** The translation costs per connection count, from runTranslation's results. */
function translationCosts(results: TranslationResult[]): TranslationCost[] {
  const out: TranslationCost[] = [];
  for (const conns of new Set(results.map((r) => r.conns))) {
    const get = (path: TranslationPath, length: StreamLength) =>
      results.find((r) => r.conns === conns && r.path === path && r.length === length);
    const ps = get("passthrough", "short"), pl = get("passthrough", "long");
    const ts = get("translated", "short"), tl = get("translated", "long");
    if (!ps || !pl || !ts || !tl) continue;
    const events = pl.upstream_events - ps.upstream_events;
    const passthrough = (pl.p50_us - ps.p50_us) / events;
    const translated = (tl.p50_us - ts.p50_us) / events;
    out.push({
      conns,
      passthrough_per_event_us: passthrough,
      translated_per_event_us: translated,
      added_per_event_us: translated - passthrough,
      short_added_p50_us: ts.p50_us - ps.p50_us,
      short_throughput_ratio: ts.rps / ps.rps,
      long_throughput_ratio: tl.rps / pl.rps,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// wrk, and CPU pinning

/** External programs and the CPUs to run on. */
interface Tools {
  wrk: string;
  taskset?: string;
  /** The CPU every process of a 1-connection run is pinned to, when pinning. */
  pinCpu?: string;
  /** The CPUs this process may use, restored for the multi-connection runs. */
  allCpus?: string;
}

/**
 * Finds taskset and the CPUs to use. At one connection the request is a chain of wake-ups
 * (wrk → router → upstream → router → wrk); when those hop between CPUs, each hop costs a
 * cross-CPU wake-up (tens of µs on a VM) and the run lands in one of two modes at random. Pinning
 * the whole chain to one CPU measures the work instead, which is what the budget is about.
 */
async function findTools(wrk: string, pin: boolean): Promise<Tools> {
  const taskset = Deno.build.os === "linux" ? findExecutable("taskset") : undefined;
  if (!pin || !taskset) return { wrk };
  const out = await new Deno.Command(taskset, { args: ["-c", "-p", String(Deno.pid)] }).output();
  const list = /:\s*([0-9,-]+)\s*$/.exec(new TextDecoder().decode(out.stdout))?.[1];
  if (!out.success || !list) return { wrk };
  const cpus = list.split(",").flatMap((part) => {
    const [a, b] = part.split("-").map(Number);
    return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i);
  });
  // The last CPU: the first one tends to take more of the machine's interrupts.
  return { wrk, taskset, pinCpu: String(cpus[cpus.length - 1]), allCpus: list };
}

/** Sets the CPU affinity of every running server process (all threads). */
async function pinServers(tools: Tools, cpus: string | undefined): Promise<void> {
  if (!tools.taskset || !cpus) return;
  for (const p of running) {
    if (p.exited) continue;
    const out = await new Deno.Command(tools.taskset, {
      args: ["-a", "-c", "-p", cpus, String(p.pid)],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      log(`warning: cannot pin ${p.name}: ${new TextDecoder().decode(out.stderr).trim()}`);
    }
  }
}

/** A wrk Lua script that POSTs `body` and prints a JSON summary in done(). */
function wrkScript(body: string): string {
  if (body.includes("]==]")) throw new Error("request body clashes with the Lua long string");
  return `-- generated by bench/bench.ts
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[${body}]==]

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"bytes\\":%d," ..
    "\\"connect_errors\\":%d,\\"read_errors\\":%d,\\"write_errors\\":%d," ..
    "\\"status_errors\\":%d,\\"timeouts\\":%d,\\"p50_us\\":%d,\\"p90_us\\":%d," ..
    "\\"p99_us\\":%d,\\"mean_us\\":%.1f,\\"max_us\\":%d}\\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
`;
}

/** Runs wrk once and returns its done() summary. */
async function runWrk(
  tools: Tools,
  script: string,
  url: string,
  conns: number,
  seconds: number,
): Promise<WrkSummary & { threads: number }> {
  const threads = Math.min(conns, 2);
  const pinned = conns === 1 ? tools.pinCpu : undefined;
  const [cmd, pre] = pinned && tools.taskset
    ? [tools.taskset, ["-c", pinned, tools.wrk]]
    : [tools.wrk, []];
  const proc = spawn("wrk", cmd, [
    ...pre,
    `-t${threads}`,
    `-c${conns}`,
    `-d${seconds}s`,
    "--timeout",
    "10s",
    "-s",
    script,
    url,
  ]);
  const [status] = await Promise.all([proc.done, proc.drained]);
  const m = proc.recent.map((l) => /^WRK_JSON (\{.*\})$/.exec(l)).find((x) => x !== null);
  if (!status.success || !m) {
    throw new Error(`wrk failed against ${url} (exit ${status.code})\n${proc.tail()}`);
  }
  return { ...JSON.parse(m[1]) as WrkSummary, threads };
}

// ---------------------------------------------------------------------------------------------
// Report

function fmtUs(us: number): string {
  return us >= 10_000 ? `${(us / 1000).toFixed(1)}ms` : `${Math.round(us)}µs`;
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function table(rows: string[][], right: boolean[]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) =>
    r.map((cell, c) => right[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c])).join("  ")
      .trimEnd()
  ).join("\n");
}

function compare(results: Result[]): Comparison[] {
  const out: Comparison[] = [];
  for (const br of results.filter((r) => r.target === "bitrouter")) {
    const floor = results.find((r) =>
      r.target === "floor" && r.kind === br.kind && r.conns === br.conns
    );
    if (!floor) continue;
    const ratio = br.rps / floor.rps;
    const added = br.p50_us - floor.p50_us;
    out.push({
      kind: br.kind,
      conns: br.conns,
      throughput_ratio: ratio,
      added_p50_us: added,
      throughput_ok: ratio >= THROUGHPUT_MIN,
      latency_ok: br.conns === 1 ? added <= ADDED_P50_MAX_US : null,
      errors_ok: br.errors === 0,
    });
  }
  return out;
}

function report(
  results: Result[],
  comparisons: Comparison[],
  translation: TranslationResult[],
  memory: Memory | undefined,
  header: string,
): string {
  const lines = [header, ""];
  lines.push(table(
    [
      ["target", "conns", "kind", "req/s", "p50", "p99", "errors"],
      ...results.map((r) => [
        r.target,
        String(r.conns),
        r.kind,
        fmtInt(r.rps),
        fmtUs(r.p50_us),
        fmtUs(r.p99_us),
        r.errors ? `${r.errors} !` : "0",
      ]),
    ],
    [false, true, false, true, true, true, true],
  ));
  if (comparisons.length) {
    lines.push("", "BitRouter vs floor (SPEC §9: ≥ 90% throughput, ≤ 30 µs added p50 at 1 conn)");
    lines.push(table(
      [
        ["kind", "conns", "throughput", "added p50", "verdict"],
        ...comparisons.map((c) => {
          const bad = [
            c.throughput_ok ? "" : "throughput below 90%",
            c.latency_ok === false ? "added p50 over 30 µs" : "",
            c.errors_ok ? "" : "errors",
          ].filter(Boolean);
          return [
            c.kind,
            String(c.conns),
            `${(c.throughput_ratio * 100).toFixed(1)}%`,
            `${c.added_p50_us >= 0 ? "+" : ""}${Math.round(c.added_p50_us)} µs`,
            bad.length ? `MISS: ${bad.join(", ")}` : "ok",
          ];
        }),
      ],
      [false, true, true, true, false],
    ));
  }
  if (translation.length) lines.push("", translationReport(translation));
  if (memory) {
    lines.push(
      "",
      `BitRouter RSS: ${fmtInt(memory.ready_kib)} KiB at start, ${fmtInt(memory.before_kib)} KiB ` +
        `after the measurements, ${fmtInt(memory.after_kib)} KiB after ` +
        `${fmtInt(memory.requests_between)} more requests ` +
        `(${memory.growth_kib >= 0 ? "+" : ""}${fmtInt(memory.growth_kib)} KiB, ` +
        `${memory.growth_pct.toFixed(1)}%): ${
          memory.flat ? "flat" : `MISS: grew more than ${MEMORY_GROWTH_MAX_PCT}%`
        }`,
    );
    if (memory.rounds.length > 2) {
      lines.push(
        "RSS after each round (requests so far: KiB): " +
          memory.rounds.map((r) => `${fmtInt(r.requests)}: ${fmtInt(r.rss_kib)}`).join(", "),
      );
    }
    if (memory.floor_ready_kib !== null && memory.floor_end_kib !== null) {
      lines.push(
        `floor RSS for scale: ${fmtInt(memory.floor_ready_kib)} KiB at start, ` +
          `${fmtInt(memory.floor_end_kib)} KiB at the end`,
      );
    }
  }
  return lines.join("\n");
}

/** The translation runs and their costs, as text. */
function translationReport(results: TranslationResult[]): string {
  const [short, long] = ["short", "long"].map((l) =>
    results.find((r) => r.length === l)?.upstream_events
  );
  const lines = [
    `Translated path: a Messages client streaming from the chat upstream, vs a chat client ` +
    `(passthrough); streams of ${short} and ${long} upstream events`,
    table(
      [
        ["path", "events", "conns", "req/s", "p50", "p99", "errors"],
        ...results.map((r) => [
          r.path,
          String(r.upstream_events),
          String(r.conns),
          fmtInt(r.rps),
          fmtUs(r.p50_us),
          fmtUs(r.p99_us),
          r.errors ? `${r.errors} !` : "0",
        ]),
      ],
      [false, true, true, true, true, true, true],
    ),
  ];
  const us = (n: number) => `${n.toFixed(1)} µs`;
  const signed = (n: number, text: string) => (n >= 0 ? "+" : "") + text;
  for (const c of translationCosts(results)) {
    lines.push(
      `c=${c.conns}: per upstream event (p50 slope) ${
        us(c.translated_per_event_us)
      } translated vs ` +
        `${us(c.passthrough_per_event_us)} passthrough ` +
        `(${signed(c.added_per_event_us, us(c.added_per_event_us))}); short stream ` +
        `${signed(c.short_added_p50_us, `${Math.round(c.short_added_p50_us)} µs`)} p50; ` +
        `throughput ${(c.short_throughput_ratio * 100).toFixed(1)}% (short), ` +
        `${(c.long_throughput_ratio * 100).toFixed(1)}% (long) of passthrough`,
    );
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------

async function main(opts: Options): Promise<number> {
  const wrk = findExecutable("wrk");
  if (!wrk) {
    console.error("install wrk: apt-get install wrk nginx-light");
    return 1;
  }
  const tools = await findTools(wrk, opts.pin);
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
    const upstream = await startUpstream(opts, dir, repo);
    log(`upstream: ${upstream.kind} on ${upstream.origin}`);
    const targets: Target[] = [];
    for (const name of opts.targets) {
      if (name === "upstream") {
        targets.push({
          name,
          url: {
            plain: upstream.origin + UPSTREAM_PATH.plain,
            stream: upstream.origin + UPSTREAM_PATH.stream,
          },
        });
      } else if (name === "floor") {
        targets.push(
          await startFloor(upstream.origin, repo, {
            signal: opts.floorSignal,
            contract: opts.floorContract,
            guarded: opts.floorGuarded,
          }),
        );
      } else {
        targets.push(await startBitRouter(upstream.origin, dir, repo));
      }
      log(`${name}: ready`);
    }
    const expect = { plain: PLAIN_BODY, stream: STREAM_BODY };
    for (const t of targets) await checkTarget(t, expect);

    const scripts: Record<Kind, string> = {
      plain: `${dir}/plain.lua`,
      stream: `${dir}/stream.lua`,
    };
    for (const kind of ["plain", "stream"] as Kind[]) {
      await Deno.writeTextFile(scripts[kind], wrkScript(REQUEST[kind]));
    }

    const router = targets.find((t) => t.name === "bitrouter");
    const readyRss = router?.proc ? await rssKib(router.proc.pid) : undefined;
    const floor = targets.find((t) => t.name === "floor");
    const floorReadyRss = floor?.proc ? await rssKib(floor.proc.pid) : undefined;
    const samples: number[] = [];
    const results: Result[] = [];
    // Targets are interleaved per (kind, conns) so that the runs compared with each other are
    // seconds apart, under the same background noise.
    for (const kind of ["plain", "stream"] as Kind[]) {
      for (const conns of opts.conns) {
        await pinServers(tools, conns === 1 ? tools.pinCpu : tools.allCpus);
        for (const t of targets) {
          if (opts.warmup > 0) await runWrk(tools, scripts[kind], t.url[kind], conns, opts.warmup);
          const s = await runWrk(tools, scripts[kind], t.url[kind], conns, opts.duration);
          const r: Result = {
            target: t.name,
            kind,
            conns,
            threads: s.threads,
            requests: s.requests,
            rps: s.requests / (s.duration_us / 1e6),
            p50_us: s.p50_us,
            p90_us: s.p90_us,
            p99_us: s.p99_us,
            mean_us: s.mean_us,
            errors: s.connect_errors + s.read_errors + s.write_errors + s.status_errors +
              s.timeouts,
            bytes_per_request: s.requests ? Math.round(s.bytes / s.requests) : 0,
          };
          results.push(r);
          if (t.proc && t === router) {
            const rss = await rssKib(t.proc.pid);
            if (rss !== undefined) samples.push(rss);
          }
          log(
            `${t.name.padEnd(9)} ${kind.padEnd(6)} c=${String(conns).padEnd(3)} ` +
              `${fmtInt(r.rps).padStart(7)} req/s  p50 ${fmtUs(r.p50_us)}  p99 ${fmtUs(r.p99_us)}${
                r.errors ? `  errors ${r.errors}` : ""
              }`,
          );
        }
      }
    }

    let translation: TranslationResult[] = [];
    if (router && opts.translation) {
      const origin = new URL(router.url.plain).origin;
      await checkTranslation(origin);
      translation = await runTranslation(tools, dir, origin, opts);
    }

    let memory: Memory | undefined;
    if (router?.proc && readyRss !== undefined) {
      // Everything is warm now: run at least MEMORY_REQUESTS more and see whether RSS moves.
      const conns = Math.max(...opts.conns);
      await pinServers(tools, conns === 1 ? tools.pinCpu : tools.allCpus);
      const before = await rssKib(router.proc.pid) ?? 0;
      let requests = 0;
      // At least one run of each kind; bounded in case BitRouter is far slower than expected.
      const rounds: Memory["rounds"] = [];
      const minRounds = opts.soak || 2;
      const maxRounds = opts.soak || 20;
      for (let i = 0; (requests < MEMORY_REQUESTS || i < minRounds) && i < maxRounds; i++) {
        const kind: Kind = i % 2 === 0 ? "plain" : "stream";
        const s = await runWrk(tools, scripts[kind], router.url[kind], conns, opts.duration);
        requests += s.requests;
        const rss = await rssKib(router.proc.pid);
        if (rss !== undefined) {
          samples.push(rss);
          rounds.push({ requests, rss_kib: rss });
        }
      }
      const after = await rssKib(router.proc.pid) ?? 0;
      const growth = after - before;
      memory = {
        ready_kib: readyRss,
        before_kib: before,
        after_kib: after,
        requests_between: requests,
        growth_kib: growth,
        growth_pct: before ? (growth / before) * 100 : 0,
        flat: growth <= before * MEMORY_GROWTH_MAX_PCT / 100,
        samples_kib: samples,
        rounds,
        floor_ready_kib: floorReadyRss ?? null,
        floor_end_kib: (floor?.proc ? await rssKib(floor.proc.pid) : undefined) ?? null,
      };
    }

    const comparisons = compare(results);
    const pass = comparisons.every((c) =>
      c.throughput_ok && c.latency_ok !== false && c.errors_ok
    ) &&
      (memory?.flat ?? true);
    const cpus = navigator.hardwareConcurrency;
    const pinning = (tools.pinCpu ? `1-conn runs pinned to CPU ${tools.pinCpu}` : "no pinning") +
      (opts.floorSignal ? ", floor with AbortSignal" : "") +
      (opts.floorContract ? ", floor with SPEC §4's body read and headers" : "") +
      (opts.floorGuarded ? ", floor relaying as SPEC §5 requires" : "");
    const header = `BitRouter bench: upstream ${upstream.kind}, wrk ${opts.duration}s runs ` +
      `(warmup ${opts.warmup}s), ${cpus} CPUs, ${pinning}, deno ${Deno.version.deno}, ` +
      Deno.build.target;
    const doc = {
      date: new Date().toISOString(),
      deno: Deno.version.deno,
      target: Deno.build.target,
      cpus,
      upstream: upstream.kind,
      duration_secs: opts.duration,
      warmup_secs: opts.warmup,
      pinned_cpu: tools.pinCpu ?? null,
      floor_signal: opts.floorSignal,
      floor_contract: opts.floorContract,
      floor_guarded: opts.floorGuarded,
      budget: {
        throughput_ratio_min: THROUGHPUT_MIN,
        added_p50_us_max: ADDED_P50_MAX_US,
        memory_growth_pct_max: MEMORY_GROWTH_MAX_PCT,
      },
      results,
      comparisons,
      translation: { results: translation, costs: translationCosts(translation) },
      memory: memory ?? null,
      pass: comparisons.length ? pass : null,
    };
    if (router && !memory) log("warning: BitRouter's RSS was not measured (needs Linux /proc)");
    const text = report(results, comparisons, translation, memory, header);
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
