/**
 * BitRouter in-process for the fault suite: the real handler (createHandler) behind a real
 * Deno.serve on 127.0.0.1:0 and real fetch towards the fakes, so disconnects, backpressure and
 * broken sockets behave as in production, without the cost of a child process per test.
 */
import { parseConfig } from "../../src/config/load.ts";
import { buildRouteTable } from "../../src/routing/route_table.ts";
import { createHandler, type Handler } from "../../src/proxy/handler.ts";
import { HealthBook } from "../../src/routing/health.ts";
import type { Logger, RequestRecord } from "../../src/observe/log.ts";
import { createDeadlines, type Deadlines } from "../../src/proxy/deadlines.ts";

/**
 * Deno.test with the op and resource sanitizers on: Deno 2.9.6 turns them off by default, and a
 * fault test must prove that no socket, read or timer outlives it.
 */
export function faultTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, sanitizeOps: true, sanitizeResources: true, fn });
}

/** A running in-process BitRouter. */
export interface InProcessRouter {
  /** "http://127.0.0.1:PORT" */
  readonly url: string;
  /** url + "/v1" */
  readonly apiBase: string;
  readonly port: number;
  readonly handler: Handler;
  readonly health: HealthBook;
  /** The handler's shared timer: `size` is how many time limits are pending. */
  readonly deadlines: Deadlines;
  /** Every finished request as the log saw it (SPEC §8), in order. */
  readonly records: RequestRecord[];
  /** Warnings the router logged (cooldowns, …). */
  readonly warnings: string[];
  /** Errors Deno.serve caught from the handler: a handler that throws is a bug. */
  readonly handlerErrors: unknown[];
  /** Requests whose response has been neither delivered nor abandoned yet. */
  readonly inFlight: number;
  /** Resolves once no request is in flight (fails after ms). */
  idle(ms?: number): Promise<void>;
  /** Shuts the server down, closes BitRouter's upstream connection pool, disarms its timer. */
  close(): Promise<void>;
}

/**
 * Starts BitRouter on 127.0.0.1:0 from YAML config text. BitRouter's fetch gets its own HTTP
 * client, so its pooled upstream connections are closed with the router (and can be counted).
 */
export async function startRouter(config: string): Promise<InProcessRouter> {
  const table = buildRouteTable(parseConfig(config, "/faults.yaml", { env: () => undefined }));
  const records: RequestRecord[] = [];
  const warnings: string[] = [];
  const handlerErrors: unknown[] = [];
  const log: Logger = {
    level: "debug",
    error: (m) => warnings.push(m),
    warn: (m) => warnings.push(m),
    info: () => {},
    debug: () => {},
    request: (r) => records.push(r),
    setLevel: () => {},
  };
  const client = Deno.createHttpClient({});
  const now = () => performance.now();
  const health = new HealthBook(table.config.health, now);
  const deadlines = createDeadlines(now);
  const handler = createHandler({
    routes: () => table,
    fetch: ((input: RequestInfo | URL, init?: RequestInit) =>
      fetch(input, { ...init, client })) as typeof fetch,
    now,
    log,
    health,
    deadlines,
  });
  let inFlight = 0;
  let onIdle: (() => void) | undefined;
  const finished = () => {
    inFlight--;
    if (inFlight === 0) onIdle?.();
  };
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: listening.resolve,
    onError: (e) => {
      handlerErrors.push(e);
      return new Response("handler threw", { status: 500 });
    },
  }, (request, info) => {
    inFlight++;
    info.completed.then(finished, finished);
    return handler(request);
  });
  const { port } = await listening.promise;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    apiBase: `${url}/v1`,
    port,
    handler,
    health,
    deadlines,
    records,
    warnings,
    handlerErrors,
    get inFlight() {
      return inFlight;
    },
    async idle(ms = 2_000) {
      if (inFlight === 0) return;
      const done = new Promise<void>((resolve) => onIdle = resolve);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${inFlight} requests still in flight after ${ms} ms`)),
          ms,
        );
      });
      try {
        await Promise.race([done, late]);
      } finally {
        clearTimeout(timer);
        onIdle = undefined;
      }
    },
    async close() {
      // Graceful, but bounded: a test that failed may leave a response that never ends, and its
      // own failure must be reported, not turned into a hang (the sanitizers then report what
      // was left open).
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stuck = new Promise<"stuck">((resolve) => {
        timer = setTimeout(() => resolve("stuck"), 2_000);
      });
      const ended = await Promise.race([server.shutdown().then(() => "done" as const), stuck]);
      clearTimeout(timer);
      if (ended === "done") client.close();
      // The shared timer stays armed after its deadlines are cancelled (by design, see
      // deadlines.ts); a router that is done disarms it.
      deadlines.clear();
    },
  };
}

/** Posts a JSON body to one of the router's paths; the response is the test's to consume. */
export function post(
  router: InProcessRouter,
  path: string,
  body: unknown,
  init: RequestInit = {},
): Promise<Response> {
  return fetch(router.url + path, {
    method: "POST",
    ...init,
    headers: { "content-type": "application/json", ...init.headers as Record<string, string> },
    body: JSON.stringify(body),
  });
}

/** A one-message chat body (short: its request fits Deno.serve's first read). */
export function chatBody(model: string, extra: Record<string, unknown> = {}) {
  return { model, messages: [{ role: "user", content: "hi" }], ...extra };
}

/** The SSE events of a body text, without blank separators. */
export function sseEvents(text: string): string[] {
  return text.split(/\n\n+/).map((e) => e.trim()).filter((e) => e !== "");
}

/** TCP states in /proc/net/tcp that hold no socket of interest. */
const LISTEN = "0A";
const TIME_WAIT = "06";

const STATE_NAMES: Record<string, string> = {
  "01": "ESTABLISHED",
  "02": "SYN_SENT",
  "03": "SYN_RECV",
  "04": "FIN_WAIT1",
  "05": "FIN_WAIT2",
  "07": "CLOSE",
  "08": "CLOSE_WAIT",
  "09": "LAST_ACK",
  "0B": "CLOSING",
};

interface TcpEntry {
  localPort: number;
  remotePort: number;
  state: string;
  /** send queue + receive queue, bytes */
  queued: number;
}

/**
 * A /proc file's text. Deno 2.9.6 lets only --allow-all read /proc/net (`deno task test` grants
 * --allow-read and --allow-run), so without it the file is read by `cat`; undefined when it is
 * not there (IPv6 off).
 */
async function readProcFile(file: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    if (!(e instanceof Deno.errors.NotCapable)) throw e;
  }
  const out = await new Deno.Command("cat", { args: [file], stderr: "null" }).output();
  return out.success ? new TextDecoder().decode(out.stdout) : undefined;
}

/**
 * The machine's TCP sockets from /proc/net/tcp{,6}, keyed by their two addresses. The file is
 * read three times and merged: it is not a snapshot, and on a busy machine (another test suite
 * opening and closing sockets) one reading can skip entries. Linux only: undefined elsewhere.
 */
async function tcpTable(): Promise<Map<string, TcpEntry> | undefined> {
  if (Deno.build.os !== "linux") return undefined;
  const table = new Map<string, TcpEntry>();
  for (let round = 0; round < 3; round++) {
    for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      const text = await readProcFile(file);
      if (text === undefined) continue;
      for (const line of text.split("\n").slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols.length < 5) continue;
        const [tx, rx] = cols[4].split(":").map((h) => parseInt(h, 16));
        const entry = {
          localPort: parseInt(cols[1].split(":")[1], 16),
          remotePort: parseInt(cols[2].split(":")[1], 16),
          state: cols[3],
          queued: tx + rx,
        };
        const key = `${cols[1]} ${cols[2]}`;
        const seen = table.get(key);
        if (!seen || entry.queued > seen.queued) table.set(key, entry);
      }
    }
  }
  return table;
}

/**
 * TCP connections open on this machine whose local port is `port` (the server side of each
 * connection to it), by state name. Linux only: undefined elsewhere.
 */
export async function serverSideConnections(
  port: number,
): Promise<Record<string, number> | undefined> {
  const table = await tcpTable();
  if (!table) return undefined;
  const out: Record<string, number> = {};
  for (const e of table.values()) {
    if (e.localPort !== port || e.state === LISTEN || e.state === TIME_WAIT) continue;
    const name = STATE_NAMES[e.state] ?? e.state;
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

/** The sum of a state count. */
export function total(counts: Record<string, number> | undefined): number {
  return Object.values(counts ?? {}).reduce((a, b) => a + b, 0);
}

/** One endpoint of a test chain: a provider id, its api_base and the model it is asked for. */
export interface ChainLink {
  id: string;
  apiBase: string;
  model: string;
  /** extra provider keys as YAML flow-map entries, e.g. `api_key: sk-1` */
  extra?: string;
}

/**
 * Config text with one provider per link and the virtual model `chain` over them in order;
 * `timeouts` are `upstream.timeouts` (flow map), `health` the health block.
 */
export function chainConfig(
  links: ChainLink[],
  o: { timeouts?: string; health?: string; server?: string } = {},
): string {
  const providers = links.map((l) =>
    `  ${l.id}: { api_base: "${l.apiBase}", models: ["${l.model}"]${
      l.extra ? `, ${l.extra}` : ""
    } }`
  ).join("\n");
  const endpoints = links.map((l) => `{ provider: ${l.id}, service_id: "${l.model}" }`).join(", ");
  return `
server: { skip_auth: true${o.server ? `, ${o.server}` : ""} }
upstream: { timeouts: { ${o.timeouts ?? "first_byte_secs: 2, idle_secs: 2"} } }
${o.health ? `health: { ${o.health} }` : ""}
providers:
${providers}
models:
  chain: { strategy: priority, endpoints: [${endpoints}] }
`;
}

/** A one-message chat body for the virtual model `chain`. */
export function chainBody(extra: Record<string, unknown> = {}) {
  return chatBody("chain", extra);
}

/**
 * Bytes waiting in kernel socket buffers (send and receive queues) on every TCP connection that
 * has one of `ports` at either end. Linux only: undefined elsewhere.
 */
export async function queuedBytes(ports: number[]): Promise<number | undefined> {
  const table = await tcpTable();
  if (!table) return undefined;
  const wanted = new Set(ports);
  let sum = 0;
  for (const e of table.values()) {
    if (wanted.has(e.localPort) || wanted.has(e.remotePort)) sum += e.queued;
  }
  return sum;
}
