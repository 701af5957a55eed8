import { CONFIG_OPTIONS, parseCommand } from "./args.ts";
import { type Io, table } from "./io.ts";
import { loadDiscovered } from "./load.ts";
import { runningStatus } from "./route.ts";
import { capacityText } from "./capacity_text.ts";

/** Usage of `bitrouter providers`. */
export const PROVIDERS_USAGE = `Usage: bitrouter providers [OPTIONS]

List each provider: id, api_base, protocol, whether it is active (and why not) or down, how
many models it serves, where it came from (config / detected / built-in), and its capacity
(max_concurrent, rate limits, accounts; in flight and queued when a bitrouter is running at the
config's listen address). Local servers are probed first (as \`bitrouter serve\` does at
startup), so detected ones are listed too.

Options:
  -c, --config PATH   config file
      --json          print JSON
  -h, --help          show this help`;

/** `bitrouter providers`. */
export async function providersCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommand(argv, CONFIG_OPTIONS, PROVIDERS_USAGE);
  if (values.help) {
    io.out(PROVIDERS_USAGE);
    return 0;
  }
  const { config } = await loadDiscovered(values.config, io);
  const live = await runningStatus(config.server, io.fetch);
  const rows = config.providers.map((p) => ({
    id: p.id,
    api_base: p.apiBase,
    protocol: p.protocolRules.length
      ? p.protocolRules.map((r) => `${r.pattern}=${r.protocol}`).join(",")
      : p.defaultProtocol,
    active: !p.inactiveReason,
    reason: p.inactiveReason ?? null,
    down: p.downReason ?? null,
    kind: p.kind ?? null,
    models: p.models.length,
    source: p.source,
    capacity: capacityText(p, live),
  }));
  if (values.json) {
    io.out(JSON.stringify({ providers: rows }));
    return 0;
  }
  if (rows.length === 0) {
    io.out(
      "no providers: run `bitrouter init` and uncomment a block, or start a local model server",
    );
    return 0;
  }
  io.out(
    table([
      ["ID", "API_BASE", "PROTOCOL", "STATUS", "MODELS", "SOURCE", "CAPACITY"],
      ...rows.map((
        r,
      ) => [
        r.id,
        r.api_base,
        r.protocol,
        r.active ? (r.down ? r.down : "active") : `inactive: ${r.reason}`,
        String(r.models),
        r.source,
        r.capacity,
      ]),
    ]).join("\n"),
  );
  return 0;
}
