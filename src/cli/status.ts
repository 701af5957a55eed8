import type { ServerStatus } from "../proxy/routes/info.ts";
import type { UsageTotals } from "../observe/usage_series.ts";
import { parseCommand } from "./args.ts";
import { CliError, type Io, table, UsageError } from "./io.ts";
import { loadForCli } from "./load.ts";
import { findDaemonFiles, readPidFile } from "./daemon_files.ts";
import { printable } from "../observe/log.ts";
import { askStatus, listenOrigin, NotRunningError } from "./running.ts";

/** Usage of `bitrouter status`. */
export const STATUS_USAGE = `Usage: bitrouter status [OPTIONS]

Ask the running bitrouter what the dashboard (its page at /) shows: each provider's state, in
flight / cap and queue, endpoints cooling down and why, the order each virtual model's endpoints
would be tried now, the last requests, and usage today and this week, local against hosted.
The address is --url, else the one \`bitrouter start\` noted beside the config, else
server.listen; the key, when auth is on, is BITROUTER_API_KEY, or the first of
server.api_keys when the address is the config's own router.

Options:
  -c, --config PATH   config file (for the address and the key)
      --url URL       the router to ask, e.g. http://127.0.0.1:4356
      --json          print the status as one JSON document
  -h, --help          show this help`;

/** How many of the last requests the text shows. */
const SHOWN_REQUESTS = 10;

/** `bitrouter status`. */
export async function statusCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    config: { type: "string", short: "c" },
    url: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, STATUS_USAGE);
  if (values.help) {
    io.out(STATUS_USAGE);
    return 0;
  }
  if (positionals.length) {
    throw new UsageError(`unexpected argument "${positionals[0]}"`, STATUS_USAGE);
  }
  let origin: string | undefined;
  if (values.url !== undefined) {
    origin = originOf(values.url);
    if (!origin) {
      throw new UsageError(
        `--url expects an http(s) URL such as http://127.0.0.1:4356, got "${values.url}"`,
        STATUS_USAGE,
      );
    }
  }
  const { config } = await loadForCli(values.config, io);
  // The config's router: where `start` noted it runs (a --listen or port 0 moves it), else
  // server.listen.
  const started = await readPidFile(findDaemonFiles(values.config, io).pid).catch(() => undefined);
  const own = [started?.url && originOf(started.url), listenOrigin(config.server)]
    .filter((o): o is string => !!o);
  // The config's key goes to the config's own router only, never to any --url.
  const configKey = config.server.skipAuth ? undefined : config.server.apiKeys[0];
  const keyFor = (o: string) =>
    io.env("BITROUTER_API_KEY")?.trim() || (own.includes(o) ? configKey : undefined);

  // --url, else the config's own router: the address noted first, then server.listen.
  const asked = await firstAnswering(origin === undefined ? own : [origin], keyFor, io.fetch);
  origin = asked.origin;
  let status = asked.status;
  const key = keyFor(origin);
  // The usage store had not answered yet (its first read of this run): ask again, a few times.
  for (let again = 0; status.usage?.pending && again < 3; again++) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    status = await askStatus(origin, key, io.fetch);
  }
  if (values.json) {
    io.out(JSON.stringify({ url: origin, ...status }));
    return 0;
  }
  // Ids, model names and errors are others' text: no control character reaches the terminal.
  for (const line of statusText(status, origin)) io.out(printable(line));
  return 0;
}

/** The status from the first of `origins` where a router runs; NotRunningError when none does. */
async function firstAnswering(
  origins: string[],
  keyFor: (origin: string) => string | undefined,
  fetchFn: typeof fetch,
): Promise<{ origin: string; status: ServerStatus }> {
  for (const [i, origin] of origins.entries()) {
    try {
      return { origin, status: await askStatus(origin, keyFor(origin), fetchFn) };
    } catch (e) {
      if (!(e instanceof NotRunningError) || i === origins.length - 1) throw e;
    }
  }
  throw new CliError("no address to ask for the status");
}

/** The origin of a URL given on the command line, or undefined when it is not http(s). */
function originOf(text: string): string | undefined {
  try {
    const u = new URL(text);
    return u.protocol === "http:" || u.protocol === "https:" ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

/** The compact text summary of a status. */
export function statusText(s: ServerStatus, origin: string): string[] {
  const out: string[] = [];
  out.push(
    `bitrouter ${s.version} at ${origin} — ${s.config ? `config ${s.config}` : "zero-config"}`,
  );

  const providers = s.providers ?? [];
  out.push(
    "",
    `Providers (${
      providers.filter((p) => p.state === "up").length
    } of ${providers.length} up; ${s.capacity.queued} queued)`,
  );
  if (providers.length === 0) out.push("  none");
  else {
    out.push(
      ...table([
        ["ID", "KIND", "ADDRESS", "STATE", "IN FLIGHT", "MODELS"],
        ...providers.map((p) => {
          const caps = s.capacity.endpoints.filter((c) =>
            c.provider === p.id || c.provider.startsWith(`${p.id}#`)
          );
          const inFlight = caps.length
            ? caps.map((c) => `${c.in_flight}/${c.max_concurrent ?? "∞"}`).join(" ")
            : "-";
          const loaded = p.loaded === "all"
            ? ", all loaded"
            : p.loaded?.length
            ? `, ${p.loaded.length} loaded`
            : "";
          const state = p.state === "up"
            ? `up since ${clock(p.since)} UTC`
            : `${p.state}: ${p.reason ?? ""}`;
          return [
            p.id,
            p.kind ?? (p.local ? "local" : "hosted"),
            p.api_base,
            state,
            inFlight,
            `${p.models.length}${loaded}`,
          ];
        }),
      ]).map((l) => `  ${l}`),
    );
  }
  const limits = s.capacity.endpoints.flatMap((c) =>
    (c.rate_limits ?? []).flatMap((w) => [
      ...(w.requests_per_minute !== null
        ? [`${c.provider} ${w.pattern}: ${w.requests}/${w.requests_per_minute} rpm`]
        : []),
      ...(w.tokens_per_minute !== null
        ? [`${c.provider} ${w.pattern}: ${w.tokens}/${w.tokens_per_minute} tpm`]
        : []),
    ])
  );
  if (limits.length) out.push(`  rate limits: ${limits.join("; ")}`);

  const unwell = s.endpoints.filter((e) => e.state === "cooling" || e.state === "probing");
  if (unwell.length) {
    out.push("", "Endpoints cooling down");
    for (const e of unwell) {
      out.push(
        e.state === "cooling"
          ? `  ${e.provider} ${e.model}: cooling ${e.cooling_for_secs}s after ${e.consecutive_failures} failures: ${
            e.last_error ?? "-"
          }`
          : `  ${e.provider} ${e.model}: probing after its cooldown`,
      );
    }
  }

  const virtual = s.virtual_models ?? [];
  if (virtual.length) {
    out.push("", "Virtual models (in the order tried now)");
    for (const v of virtual) {
      const order = v.order.map((o, i) =>
        `${i + 1}. ${o.provider} ${o.model}${o.state === "healthy" ? "" : ` (${o.state})`}`
      );
      out.push(`  ${v.name}: ${order.join("  ")}`);
    }
  }

  const recent = (s.recent ?? []).slice(0, SHOWN_REQUESTS);
  out.push("", `Last requests${recent.length ? ` (${recent.length}, newest first)` : ""}`);
  if (recent.length === 0) out.push("  none yet");
  else {
    out.push(
      ...table([
        [
          "TIME (UTC)",
          "PROTOCOL",
          "MODEL",
          "SERVED BY",
          "STATUS",
          "TRIES",
          "TTFB",
          "TOTAL",
          "TOKENS",
          "COST",
        ],
        ...recent.map((r) => [
          clock(r.time),
          r.protocol,
          r.model ?? "-",
          r.provider ? `${r.provider}:${r.upstream_model ?? ""}` : "-",
          String(r.status),
          String(r.attempts),
          r.ttfb_ms === null ? "-" : `${r.ttfb_ms}ms`,
          `${r.total_ms}ms`,
          r.input_tokens === null && r.output_tokens === null
            ? "?"
            : `${r.input_tokens ?? "?"}/${r.output_tokens ?? "?"}`,
          r.cost_usd === null ? "-" : usd(r.cost_usd),
        ]),
      ]).map((l) => `  ${l}`),
    );
  }

  out.push("", "Usage");
  if (!s.usage) out.push("  not recorded (usage: false), or the store cannot be read");
  else if (s.usage.pending) out.push("  the usage store has not answered yet");
  else {
    out.push(`  today:       ${totals(s.usage.today)}`);
    out.push(`  last 7 days: ${totals(s.usage.week)}`);
  }
  return out;
}

function totals(t: UsageTotals): string {
  return `${t.local_tokens} local tokens, ${t.hosted_tokens} hosted tokens (${
    usd(t.hosted_cost_usd)
  }); local saved ${usd(t.saved_usd)} (${t.requests} requests)`;
}

function usd(v: number): string {
  return v === 0 ? "$0" : v < 0.01 ? `$${v.toFixed(6)}` : `$${v.toFixed(2)}`;
}

/** The time of day of an ISO time, in UTC (as the log prints it). */
function clock(iso: string): string {
  return iso.slice(11, 19);
}
