import { NoRouteError, resolveCandidates } from "../routing/resolve.ts";
import { buildRouteTable, isLoaded } from "../routing/route_table.ts";
import { CONFIG_OPTIONS, parseCommand } from "./args.ts";
import { CliError, type Io, table, UsageError } from "./io.ts";
import { loadDiscovered } from "./load.ts";

/** Usage of `bitrouter route`. */
export const ROUTE_USAGE = `Usage: bitrouter route MODEL [OPTIONS]

Show how MODEL resolves: the ordered candidates (provider, upstream model id, protocol, URL)
and whether each is active. Reads the config on disk; exits 1 when nothing serves MODEL.

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
  const rows = [
    ...r.candidates.map((c) => ({
      provider: c.provider.id,
      model: c.model,
      protocol: c.protocol,
      url: `${c.provider.apiBase}/chat/completions`,
      active: true,
      reason: null as string | null,
      down: false,
      loaded: isLoaded(c.provider, c.model),
    })),
    ...r.skipped.map((s) => ({
      provider: s.provider.id,
      model: s.model,
      protocol: s.provider.defaultProtocol,
      url: `${s.provider.apiBase}/chat/completions`,
      active: false,
      reason: s.reason,
      down: s.down === true,
      loaded: false,
    })),
  ];
  if (values.json) {
    io.out(JSON.stringify({ model: r.model, kind: r.kind, candidates: rows }));
    return 0;
  }
  const kinds = {
    pin: "pinned to one provider",
    virtual: "virtual model",
    cascade: "cascade over every provider that lists it",
  };
  io.out(`${r.model}: ${kinds[r.kind]}`);
  io.out(
    table([
      ["#", "PROVIDER", "MODEL", "PROTOCOL", "URL", "STATUS"],
      ...rows.map((row, i) => [
        String(i + 1),
        row.provider,
        row.model,
        row.protocol,
        row.url,
        row.active
          ? (row.loaded ? "active, loaded" : "active")
          : row.down
          ? row.reason!
          : `inactive: ${row.reason}`,
      ]),
    ]).join("\n"),
  );
  return 0;
}
