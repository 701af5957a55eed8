import { formatListen, type ListenAddress, parseListen } from "../config/listen.ts";
import { type Config, DEFAULT_USAGE, LOG_LEVELS, type LogLevel } from "../config/types.ts";
import { createLogger, type Logger } from "../observe/log.ts";
import { Metrics } from "../observe/metrics.ts";
import { observingLogger, priceRecord } from "../observe/record.ts";
import { UsageRecorder } from "../observe/usage_store.ts";
import { WorkerUsageBackend } from "../observe/worker_store.ts";
import { RecentRequests } from "../observe/recent_requests.ts";
import { UsageOverviewCache } from "../observe/usage_series.ts";
import { storeLocation } from "../config/database.ts";
import { routableModels } from "../routing/resolve.ts";
import type { FoundServer } from "../discovery/discovery.ts";
import { reportingFetch } from "../discovery/report_fetch.ts";
import { createHandler } from "../proxy/handler.ts";
import { Drain } from "../proxy/drain.ts";
import { errorResponse } from "../proxy/envelope.ts";
import { parseCommand } from "./args.ts";
import { CliError, type Io, UsageError } from "./io.ts";
import { discover, loadForCli } from "./load.ts";
import { createReloader, exposureProblem, type Reloader } from "./reload.ts";

/** Usage of `bitrouter serve`. */
export const SERVE_USAGE = `Usage: bitrouter [serve] [OPTIONS]

Start the router in the foreground (what the systemd unit runs).

Options:
  -c, --config PATH        config file (default: ./bitrouter.yaml, $BITROUTER_HOME, ~/.bitrouter)
      --listen HOST:PORT   listen address, overrides server.listen (default 127.0.0.1:4356)
      --log-level LEVEL    error | warn | info | debug (overrides server.log_level)
      --log-format FORMAT  pretty | json (default pretty)
  -h, --help               show this help`;

/** `bitrouter serve`: listen, print one ready line, serve until SIGINT/SIGTERM, drain, exit 0. */
export async function serveCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommand(argv, {
    config: { type: "string", short: "c" },
    listen: { type: "string" },
    "log-level": { type: "string" },
    "log-format": { type: "string" },
    help: { type: "boolean", short: "h" },
  }, SERVE_USAGE);
  if (values.help) {
    io.out(SERVE_USAGE);
    return 0;
  }
  // The binary may run programs (`start` and `stop` signal the router); the router never does,
  // so it gives that up: nothing a request or an upstream leads it into can start a process.
  // Only in the CLI's own process — a test calling this in-process keeps its permissions.
  if (Deno.mainModule.endsWith("/main.ts")) await Deno.permissions.revoke({ name: "run" });
  const level = values["log-level"];
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`, SERVE_USAGE);
  }
  const format = values["log-format"] ?? "pretty";
  if (format !== "pretty" && format !== "json") {
    throw new UsageError("--log-format must be pretty or json", SERVE_USAGE);
  }
  let listenOverride: ListenAddress | undefined;
  if (values.listen !== undefined) {
    listenOverride = parseListen(values.listen);
    if (!listenOverride) {
      throw new UsageError(`--listen expects HOST:PORT, got "${values.listen}"`, SERVE_USAGE);
    }
  }

  const loaded = await loadForCli(values.config, io);
  // The command line wins over the file, at startup and on every reload.
  const overrides = (config: Config) => {
    if (listenOverride) Object.assign(config.server, listenOverride);
    if (level) config.server.logLevel = level as LogLevel;
  };
  overrides(loaded.config);
  const server = loaded.config.server;
  const address = formatListen(server);
  const exposed = exposureProblem(server.hostname, server);
  if (exposed) {
    throw new CliError(
      `refusing to listen on ${address} with ${exposed}`,
      "set server.skip_auth: false with server.api_keys, or write server.allow_open: true if this network is trusted",
    );
  }

  const log = createLogger({ level: server.logLevel, format, write: io.err });
  const { discovery, found } = await discover(loaded, io, log);
  const live = createReloader({
    io,
    log,
    loaded,
    text: loaded.text,
    discovery,
    overrides,
    hostname: server.hostname,
    onReload: (ok) => metrics.reloaded(ok),
  });
  const metrics = new Metrics();
  const usage = usageRecorder(loaded.config, io, log);
  metrics.setSources({
    discovered: () =>
      [...live.routes().providers.values()]
        .filter((p) => p.source === "detected")
        .map((p) => ({ id: p.id, up: !p.downReason })),
    usageRows: () => ({ written: usage?.written ?? 0, lost: usage?.lost ?? 0 }),
  });
  // The dashboard's sources: the last requests (a ring), usage sums from the store (cached).
  const recent = new RecentRequests();
  const stopping = new AbortController();
  const overview = usage
    ? new UsageOverviewCache((from, until, size) => usage.series(from, until, size))
    : undefined;
  // Every finished request: priced, counted, stored (off the request path), then logged.
  const observed = observingLogger(log, (r) => {
    const table = live.routes();
    const row = priceRecord(r, table, Date.now());
    metrics.observe(r, table);
    usage?.add(row);
    recent.push(r, row.timeMs);
  });
  const drain = new Drain();
  const handler = createHandler({
    routes: live.routes,
    // A request that cannot connect marks its server down, so the next one skips it at once.
    fetch: reportingFetch(io.fetch, live.reportUnreachable),
    now: () => performance.now(),
    log: observed,
    drain,
    metrics,
    status: {
      recent,
      usage: overview ? () => overview.get() : undefined,
      routes: live.routes,
      stopping: stopping.signal,
    },
  });

  const listen = (port: number) => {
    const ready = Promise.withResolvers<Deno.NetAddr>();
    const httpServer = Deno.serve({
      hostname: server.hostname,
      port,
      onListen: (addr) => ready.resolve(addr),
      onError: (e) => {
        log.error("unexpected error while handling a request", { error: String(e) });
        return errorResponse("openai", {
          status: 500,
          type: "server_error",
          message: "BitRouter hit an internal error; the log has details",
        });
      },
    }, handler);
    return { httpServer, ready: ready.promise };
  };
  let started;
  try {
    started = listen(server.port);
  } catch (e) {
    await live.close();
    await usage?.close();
    if (e instanceof Deno.errors.AddrInUse) {
      throw new CliError(
        `cannot listen on ${address}: the address is in use`,
        "is another bitrouter running? pick another with --listen 127.0.0.1:PORT",
      );
    }
    if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.AddrNotAvailable) {
      throw new CliError(
        `cannot listen on ${address}: ${(e as Error).message}`,
        "pick another address with --listen",
      );
    }
    throw e;
  }
  let httpServer = started.httpServer;
  const addr = await started.ready;
  // Listening before the ready line, so a signal sent as soon as it is printed is handled.
  const stops = stopSignals();
  // SIGHUP reloads (SPEC §2.4); while draining it is only noted, since the default action of an
  // unhandled SIGHUP would kill the process mid-drain.
  let draining = false;
  const onHangup = () => {
    if (draining) log.info("SIGHUP ignored: shutting down");
    else void live.reload("SIGHUP");
  };
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGHUP", onHangup);
  const url = `http://${formatListen({ hostname: addr.hostname, port: addr.port })}`;
  const config = live.config();
  const models = routableModels(live.routes()).size;
  const active = config.providers.filter((p) => !p.inactiveReason && !p.downReason).length;
  const origin = found.path ? `config ${found.path}` : "zero-config";
  io.out(
    `bitrouter ready on ${url}/v1 — ${origin}; ${active} of ${config.providers.length} providers active, ${models} models routable${
      foundSummary(discovery.servers(), config.discovery.targets ?? [], !found.path)
    }`,
  );

  live.start();

  let signal: string;
  for (;;) {
    const outcome = await Promise.race([
      stops.first,
      httpServer.finished.then(
        () => "",
        (e: unknown) => e instanceof Error ? e : new Error(String(e)),
      ),
    ]);
    if (typeof outcome === "string") {
      signal = outcome;
      break;
    }
    // Deno.serve's accept loop ends for good on an error such as EMFILE (every file descriptor
    // held, e.g. by clients that never finish their headers); without this the process would
    // exit. Running requests are unaffected; new connections wait for the new listener.
    log.error(
      `stopped accepting connections: ${outcome.message}; listening again in ${
        RELISTEN_MS / 1000
      }s (if it says too many open files, raise the limit: LimitNOFILE in the systemd unit, ulimit -n in a shell)`,
    );
    const pause = delay(RELISTEN_MS);
    const stop = await Promise.race([stops.first, pause.promise.then(() => "")]);
    pause.cancel();
    if (stop) {
      signal = stop;
      break;
    }
    try {
      const again = listen(addr.port);
      httpServer = again.httpServer;
      await again.ready;
      log.info(`listening again on ${url}`);
    } catch (e) {
      // httpServer is still the one that ended: its `finished` brings the next try.
      log.error(`cannot listen again on ${url}: ${(e as Error).message}`);
    }
  }
  draining = true;
  // Open dashboard event streams end now, so they do not hold the drain (routes/events.ts).
  stopping.abort();
  if (signal) {
    await drainAndStop(httpServer, signal, stops.second, live, drain, log);
  } else {
    await live.close();
  }
  // Rows still waiting are written before the process ends.
  await usage?.close();
  stops.dispose();
  if (Deno.build.os !== "windows") Deno.removeSignalListener("SIGHUP", onHangup);
  return 0;
}

/**
 * The usage store for this run (SPEC §8), or undefined with `usage: false`. Opening happens on
 * the first flush, off the request path; a store that cannot be opened is logged, never fatal.
 */
function usageRecorder(config: Config, io: Io, log: Logger): UsageRecorder | undefined {
  const settings = config.usage ?? DEFAULT_USAGE;
  if (!settings.enabled) return undefined;
  const where = storeLocation(config, io.env);
  if (where.kind === "unsupported") {
    log.error(`usage store not kept: ${where.reason}`);
    return undefined;
  }
  log.debug(`usage store: ${where.path}`);
  return new UsageRecorder({
    // SQLite writes run in a worker: their synchronous inserts stay off the event loop.
    open: () => WorkerUsageBackend.open(where.path),
    log,
    where: where.path,
    retentionDays: settings.retentionDays,
  });
}

/** The pause before listening again after the accept loop failed (see serveCommand). */
const RELISTEN_MS = 1_000;

/**
 * After the stop is asked for, how long the ended streams get to deliver their error event and
 * close; past it the process exits anyway, since Deno's shutdown() waits for every open
 * connection, however stuck (a client that stopped reading).
 */
const FLUSH_MS = 2_000;

/**
 * The graceful drain: no new connections at once; running requests get
 * `server.shutdown_grace_secs` (as the config says now, reloads included) to finish; then, or at
 * a second signal, every request left is ended (streams with the client protocol's error event,
 * requests without an answer yet with a 503) and its upstream aborted.
 */
async function drainAndStop(
  httpServer: Deno.HttpServer<Deno.NetAddr>,
  signal: string,
  second: Promise<string>,
  live: Reloader,
  drain: Drain,
  log: Logger,
): Promise<void> {
  // A listener whose accept loop already failed has nothing to shut down.
  const closed = httpServer.shutdown().catch(() => {});
  const grace = live.config().server.shutdownGraceSecs;
  log.info(
    `${signal}: no new connections; running requests get up to ${grace}s to finish (server.shutdown_grace_secs; ${signal} again to stop at once)`,
  );
  // No probe, watch or reload may outlive the listener, nor keep the process up.
  const stopped = live.close();
  const timer = delay(grace * 1000);
  const outcome = await Promise.race([
    closed.then(() => "finished" as const),
    timer.promise.then(() => "grace" as const),
    second,
  ]);
  timer.cancel();
  if (outcome !== "finished") {
    const ended = drain.endAll();
    log.warn(
      outcome === "grace"
        ? `shutdown grace period of ${grace}s is over: ended ${ended} running request(s) with an error`
        : `${outcome} again: ended ${ended} running request(s) with an error without waiting`,
    );
    const flush = delay(FLUSH_MS);
    const flushed = await Promise.race([
      closed.then(() => true),
      flush.promise.then(() => false),
    ]);
    flush.cancel();
    if (!flushed) {
      log.warn(`some connections were still open ${FLUSH_MS / 1000}s later; exiting anyway`);
    }
  }
  const cleanup = delay(FLUSH_MS);
  await Promise.race([stopped, cleanup.promise]);
  cleanup.cancel();
  log.info("stopped");
}

/** A timer as a promise, cancellable so that it never keeps the process up. */
function delay(ms: number): { promise: Promise<void>; cancel(): void } {
  const { promise, resolve } = Promise.withResolvers<void>();
  const id = setTimeout(resolve, ms);
  return { promise, cancel: () => clearTimeout(id) };
}

/** The ready line's tail naming the servers found, with their models (a few, then a count). */
export function foundSummary(
  servers: FoundServer[],
  targets: string[],
  zeroConfig: boolean,
): string {
  const up = servers.filter((s) => !s.downReason);
  if (up.length === 0) {
    if (!zeroConfig || targets.length === 0) return "";
    return `; no local model server found at ${
      targets.map((t) => t.replace(/^https?:\/\//, "")).join(", ")
    } yet`;
  }
  const named = up.map((s) => {
    const shown = s.models.slice(0, 4).join(", ");
    const more = s.models.length > 4 ? ` +${s.models.length - 4} more` : "";
    return `${s.id} at ${s.origin.replace(/^https?:\/\//, "")} (${shown || "no models"}${more})`;
  });
  return `; found ${named.join(", ")}`;
}

/** The first and second SIGINT/SIGTERM (SIGBREAK on Windows), by name. */
function stopSignals(): { first: Promise<string>; second: Promise<string>; dispose(): void } {
  const first = Promise.withResolvers<string>();
  const second = Promise.withResolvers<string>();
  let seen = 0;
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  const handlers = signals.map((s) => {
    const h = () => (seen++ === 0 ? first : second).resolve(s);
    Deno.addSignalListener(s, h);
    return [s, h] as const;
  });
  return {
    first: first.promise,
    second: second.promise,
    dispose: () => handlers.forEach(([s, h]) => Deno.removeSignalListener(s, h)),
  };
}
