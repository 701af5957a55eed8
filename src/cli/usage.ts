import { parseCommand } from "./args.ts";
import { CliError, type Io, table, UsageError } from "./io.ts";
import { loadForCli } from "./load.ts";
import { storeLocation } from "../config/database.ts";
import { DEFAULT_USAGE } from "../config/types.ts";
import { SqliteUsageBackend } from "../observe/sqlite_store.ts";
import {
  type Grouping,
  GROUPINGS,
  sinceMs,
  type UsageReport,
  usageReport,
} from "../observe/usage_report.ts";

/** Usage of `bitrouter usage`. */
export const USAGE_USAGE = `Usage: bitrouter usage [OPTIONS]

Requests, errors, tokens, time to first byte and cost from the usage store (database.url), per
group; then what local servers handled and what that would have cost on a hosted model. Reads the
store directly, whether or not the server runs.

Options:
  -c, --config PATH     config file (the store is database.url, default bitrouter.db beside it)
      --since WHEN      24h, 7d, 30d (any Nm/Nh/Nd/Nw) or a date YYYY-MM-DD (default 7d)
      --by GROUP        provider | model | day | key | protocol (default provider)
      --json            print JSON
  -h, --help            show this help`;

/** `bitrouter usage`. */
export async function usageCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    config: { type: "string", short: "c" },
    since: { type: "string" },
    by: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, USAGE_USAGE);
  if (values.help) {
    io.out(USAGE_USAGE);
    return 0;
  }
  if (positionals.length) {
    throw new UsageError(`unexpected argument "${positionals[0]}"`, USAGE_USAGE);
  }
  const by = (values.by ?? "provider") as Grouping;
  if (!GROUPINGS.includes(by)) {
    throw new UsageError(`--by must be one of ${GROUPINGS.join(", ")}`, USAGE_USAGE);
  }
  const now = Date.now();
  const since = sinceMs(values.since ?? "7d", now);
  if (since === undefined) {
    throw new UsageError(
      `--since expects 24h, 7d, 30d or YYYY-MM-DD, got "${values.since}"`,
      USAGE_USAGE,
    );
  }
  const { config } = await loadForCli(values.config, io);
  if ((config.usage ?? DEFAULT_USAGE).enabled === false) {
    throw new CliError(
      "the usage store is off in this config (usage: false)",
      "remove usage: false and restart bitrouter to record usage",
    );
  }
  const where = storeLocation(config, io.env);
  if (where.kind === "unsupported") throw new CliError(where.reason);
  let store: SqliteUsageBackend;
  try {
    store = await SqliteUsageBackend.openToRead(where.path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      const empty = usageReport([], since, by);
      if (values.json) io.out(JSON.stringify({ store: where.path, ...jsonOf(empty) }));
      else {
        io.out(
          `no usage recorded yet: ${where.path} does not exist (bitrouter serve creates it with the first request)`,
        );
      }
      return 0;
    }
    throw new CliError(
      `cannot read the usage store ${where.path}: ${(e as Error).message}`,
      "check database.url and the file's permissions",
    );
  }
  let report: UsageReport;
  try {
    report = usageReport(await store.rows(since), since, by);
  } catch (e) {
    throw new CliError(
      `cannot read the usage store ${where.path}: ${(e as Error).message}`,
      "is it a BitRouter usage database? check database.url",
    );
  } finally {
    await store.close();
  }
  if (values.json) {
    io.out(JSON.stringify({ store: where.path, ...jsonOf(report) }));
    return 0;
  }
  for (const line of humanLines(report, where.path)) io.out(line);
  return 0;
}

/** The report as `--json` prints it (snake_case, like the other commands' JSON). */
function jsonOf(r: UsageReport) {
  return {
    since: new Date(r.sinceMs).toISOString(),
    by: r.by,
    groups: r.groups.map((g) => ({
      [r.by]: g.group,
      requests: g.requests,
      errors: g.errors,
      requests_without_usage: g.withoutUsage,
      input_tokens: g.inputTokens,
      output_tokens: g.outputTokens,
      p50_ttfb_ms: g.p50TtfbMs,
      cost_usd: round(g.costUsd),
      unpriced_requests: g.unpriced,
    })),
    summary: {
      local: {
        requests: r.local.requests,
        input_tokens: r.local.inputTokens,
        output_tokens: r.local.outputTokens,
        hosted_equivalent_usd: round(r.local.hostedEquivalentUsd),
        compared_with: r.local.comparedWith,
      },
      hosted: {
        requests: r.hosted.requests,
        input_tokens: r.hosted.inputTokens,
        output_tokens: r.hosted.outputTokens,
        cost_usd: round(r.hosted.costUsd),
      },
    },
  };
}

/** Money to the micro-dollar, so sums of floats print cleanly. */
function round(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}

function usd(n: number): string {
  return `$${n < 0.01 && n > 0 ? n.toFixed(6) : n.toFixed(4)}`;
}

function count(n: number): string {
  return n.toLocaleString("en-US");
}

function humanLines(r: UsageReport, store: string): string[] {
  const lines = [`usage since ${new Date(r.sinceMs).toISOString()} by ${r.by} (${store})`];
  if (r.groups.length === 0) {
    lines.push("no requests in this period");
  } else {
    lines.push(
      "",
      ...table([
        [r.by.toUpperCase(), "REQUESTS", "ERRORS", "TOKENS IN", "TOKENS OUT", "P50 TTFB", "COST"],
        ...r.groups.map((g) => [
          g.group,
          count(g.requests),
          count(g.errors),
          count(g.inputTokens),
          count(g.outputTokens),
          g.p50TtfbMs === null ? "-" : `${g.p50TtfbMs} ms`,
          usd(g.costUsd) + (g.unpriced ? ` (+${g.unpriced} unpriced)` : ""),
        ]),
      ]),
    );
    const unknown = r.groups.reduce((n, g) => n + g.withoutUsage, 0);
    if (unknown) {
      lines.push(
        `(${count(unknown)} served request(s) reported no usage: their tokens are unknown)`,
      );
    }
  }
  const l = r.local;
  lines.push(
    "",
    `local: ${count(l.requests)} requests, ${count(l.inputTokens)} tokens in, ${
      count(l.outputTokens)
    } out${
      l.comparedWith.length
        ? ` — on ${l.comparedWith.join(", ")} they would have cost ${usd(l.hostedEquivalentUsd)}`
        : ""
    }`,
    `hosted: ${count(r.hosted.requests)} requests, ${count(r.hosted.inputTokens)} tokens in, ${
      count(r.hosted.outputTokens)
    } out, spent ${usd(r.hosted.costUsd)}`,
  );
  return lines;
}
