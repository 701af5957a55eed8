import { formatListen, isLoopback, parseListen } from "../config/listen.ts";
import type { LogLevel } from "../config/types.ts";
import { createLogger } from "../observe/log.ts";
import { buildRouteTable } from "../routing/route_table.ts";
import { routableModels } from "../routing/resolve.ts";
import { createHandler } from "../proxy/handler.ts";
import { errorResponse } from "../proxy/envelope.ts";
import { parseCommand } from "./args.ts";
import { CliError, type Io, UsageError } from "./io.ts";
import { loadForCli } from "./load.ts";

/** Usage of `bitrouter serve`. */
export const SERVE_USAGE = `Usage: bitrouter [serve] [OPTIONS]

Start the router in the foreground (what the systemd unit runs).

Options:
  -c, --config PATH        config file (default: ./bitrouter.yaml, $BITROUTER_HOME, ~/.bitrouter)
      --listen HOST:PORT   listen address, overrides server.listen (default 127.0.0.1:4356)
      --log-level LEVEL    error | warn | info | debug (overrides server.log_level)
      --log-format FORMAT  pretty | json (default pretty)
  -h, --help               show this help`;

const LEVELS = ["error", "warn", "info", "debug"];

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
  const level = values["log-level"];
  if (level !== undefined && !LEVELS.includes(level)) {
    throw new UsageError(`--log-level must be one of ${LEVELS.join(", ")}`, SERVE_USAGE);
  }
  const format = values["log-format"] ?? "pretty";
  if (format !== "pretty" && format !== "json") {
    throw new UsageError("--log-format must be pretty or json", SERVE_USAGE);
  }
  let listenOverride;
  if (values.listen !== undefined) {
    listenOverride = parseListen(values.listen);
    if (!listenOverride) {
      throw new UsageError(`--listen expects HOST:PORT, got "${values.listen}"`, SERVE_USAGE);
    }
  }

  const { config, found } = await loadForCli(values.config, io);
  const server = config.server;
  if (listenOverride) Object.assign(server, listenOverride);
  if (level) server.logLevel = level as LogLevel;
  const address = formatListen(server);
  if (!isLoopback(server.hostname) && server.skipAuth && !server.allowOpen) {
    throw new CliError(
      `refusing to listen on ${address} with server.skip_auth: true — anyone on the network could use your providers and keys`,
      "set server.skip_auth: false with server.api_keys, or write server.allow_open: true if this network is trusted",
    );
  }

  const log = createLogger({ level: server.logLevel, format, write: io.err });
  const table = buildRouteTable(config);
  const handler = createHandler({
    routes: () => table,
    fetch: io.fetch,
    now: () => performance.now(),
    log,
  });

  let httpServer: Deno.HttpServer<Deno.NetAddr>;
  const ready = Promise.withResolvers<Deno.NetAddr>();
  try {
    httpServer = Deno.serve({
      hostname: server.hostname,
      port: server.port,
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
  } catch (e) {
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
  const addr = await ready.promise;
  const url = `http://${formatListen({ hostname: addr.hostname, port: addr.port })}`;
  const models = routableModels(table).size;
  const active = config.providers.filter((p) => !p.inactiveReason).length;
  const origin = found.path ? `config ${found.path}` : "zero-config";
  io.out(
    `bitrouter ready on ${url}/v1 — ${origin}; ${active} of ${config.providers.length} providers active, ${models} models routable`,
  );

  // Reloading on SIGHUP is not built yet; without a listener the signal would kill the server.
  const onHangup = () =>
    log.warn("SIGHUP: this version does not reload its config; restart bitrouter to apply changes");
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGHUP", onHangup);
  const signal = await Promise.race([
    stopSignal(),
    httpServer.finished.then(() => ""),
  ]);
  if (signal) {
    const grace = server.shutdownGraceSecs;
    log.info(`${signal}: no new connections; running requests get up to ${grace}s to finish`);
    const timer = Promise.withResolvers<void>();
    const id = setTimeout(timer.resolve, grace * 1000);
    await Promise.race([httpServer.shutdown(), timer.promise]);
    clearTimeout(id);
    log.info("stopped");
  }
  if (Deno.build.os !== "windows") Deno.removeSignalListener("SIGHUP", onHangup);
  return 0;
}

/** Resolves with the name of the first SIGINT or SIGTERM. */
function stopSignal(): Promise<string> {
  const { promise, resolve } = Promise.withResolvers<string>();
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  const handlers = signals.map((s) => {
    const h = () => resolve(s);
    Deno.addSignalListener(s, h);
    return [s, h] as const;
  });
  return promise.finally(() => handlers.forEach(([s, h]) => Deno.removeSignalListener(s, h)));
}
