import { type Protocol, upstreamPath } from "../config/protocol.ts";
import { formatListen } from "../config/listen.ts";
import type { ServerSettings } from "../config/types.ts";
import type { ServerStatus } from "../proxy/routes/info.ts";
import { NoRouteError, resolveCandidates } from "../routing/resolve.ts";
import { buildRouteTable, isLoaded } from "../routing/route_table.ts";
import { CONFIG_OPTIONS, parseCommand } from "./args.ts";
import { CliError, type Io, table, UsageError } from "./io.ts";
import { loadDiscovered } from "./load.ts";
import { capacityText } from "./capacity_text.ts";
import { askStatus, listenOrigin } from "./running.ts";

/** Usage of `bitrouter route`. */
export const ROUTE_USAGE = `Usage: bitrouter route MODEL [OPTIONS]

Show how MODEL resolves: the ordered candidates (provider, upstream model id, protocol, URL)
and whether each is active. Reads the config on disk; exits 1 when nothing serves MODEL.
When a bitrouter is running at the config's listen address, also shows each endpoint's health
there (cooling down after failures, or probing), in the order it would try them now, and
each endpoint's capacity: requests in flight / max_concurrent, rate-limit windows, the queue.

Options:
  -c, --config PATH   config file
      --json          print the candidates as JSON
  -h, --help          show this help`;

/** `bitrouter route MODEL`. */
export async function routeCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, CONFIG_OPTIONS, ROUTE_USAGE);
  if (values.help) {
    io.out(ROUTE_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("route takes exactly one MODEL", ROUTE_USAGE);
  const { config } = await loadDiscovered(values.config, io);
  let r;
  try {
    r = resolveCandidates(buildRouteTable(config), positionals[0]);
  } catch (e) {
    if (e instanceof NoRouteError) throw new CliError(e.message);
    throw e;
  }
  const live = await runningStatus(config.server, io.fetch);
  const healthOf = (provider: string, model: string) => {
    const e = live?.endpoints.find((x) => x.provider === provider && x.model === model);
    if (!e || e.state === "healthy" || e.state === "half_open") return "healthy";
    if (e.state === "probing") return "probing after cooldown";
    return `cooling ${e.cooling_for_secs}s (${e.consecutive_failures} failed: ${e.last_error})`;
  };
  const url = (apiBase: string, protocol: Protocol, model: string) =>
    apiBase + upstreamPath(protocol, model, false);
  const rows = [
    // The order the server tries them now: healthy first, cooling ones after (in their order).
    ...r.candidates.map((c) => ({
      provider: c.provider.id,
      model: c.model,
      protocol: c.protocol,
      url: url(c.provider.apiBase, c.protocol, c.model),
      active: true,
      reason: null as string | null,
      health: live ? healthOf(c.provider.id, c.model) : null,
      down: false,
      loaded: isLoaded(c.provider, c.model),
      capacity: capacityText(c.provider, live),
    })).sort((a, b) =>
      Number(a.health?.startsWith("cooling")) - Number(b.health?.startsWith("cooling"))
    ),
    ...r.skipped.map((s) => ({
      provider: s.provider.id,
      model: s.model,
      protocol: s.provider.defaultProtocol,
      url: url(s.provider.apiBase, s.provider.defaultProtocol, s.model),
      active: false,
      reason: s.reason,
      health: null,
      down: s.down === true,
      loaded: false,
      capacity: capacityText(s.provider, live),
    })),
  ];
  if (values.json) {
    io.out(JSON.stringify({ model: r.model, kind: r.kind, candidates: rows }));
    return 0;
  }
  const kinds = {
    pin: "pinned to one provider",
    virtual: r.balance ? "virtual model, balanced by free capacity" : "virtual model",
    cascade: "cascade over every provider that lists it",
  };
  io.out(
    `${r.model}: ${kinds[r.kind]}${
      live ? ` (health from the bitrouter running at ${formatListen(config.server)})` : ""
    }`,
  );
  io.out(
    table([
      ["#", "PROVIDER", "MODEL", "PROTOCOL", "URL", "STATUS", "CAPACITY"],
      ...rows.map((row, i) => [
        String(i + 1),
        row.provider,
        row.model,
        row.protocol,
        row.url,
        row.active
          ? (row.health && row.health !== "healthy"
            ? row.health
            : row.loaded
            ? "active, loaded"
            : "active")
          : row.down
          ? row.reason!
          : `inactive: ${row.reason}`,
        row.capacity,
      ]),
    ]).join("\n"),
  );
  return 0;
}

/** The running server's status, if one answers at the config's listen address within 300 ms. */
export function runningStatus(
  server: ServerSettings,
  fetchFn: typeof fetch,
): Promise<ServerStatus | undefined> {
  const key = server.skipAuth ? undefined : server.apiKeys[0];
  return askStatus(listenOrigin(server), key, fetchFn, 300).catch(() => undefined);
}
