import type { UsageRow } from "./usage_store.ts";

/** What `bitrouter usage` groups by. */
export const GROUPINGS = ["provider", "model", "day", "key", "protocol"] as const;
export type Grouping = typeof GROUPINGS[number];

/** One group's totals. Token sums count only the requests that reported them. */
export interface UsageGroup {
  group: string;
  requests: number;
  errors: number;
  /** Requests whose upstream reported no usage (their tokens are unknown, not 0). */
  withoutUsage: number;
  inputTokens: number;
  outputTokens: number;
  p50TtfbMs: number | null;
  costUsd: number;
  /** Served requests whose cost is unknown (no price for the model, or no usage). */
  unpriced: number;
}

/** The whole report: groups, then local against hosted. */
export interface UsageReport {
  sinceMs: number;
  by: Grouping;
  groups: UsageGroup[];
  local: {
    requests: number;
    inputTokens: number;
    outputTokens: number;
    /** What the local requests with a known comparison would have cost hosted. */
    hostedEquivalentUsd: number;
    /** The hosted models compared against. */
    comparedWith: string[];
  };
  hosted: { requests: number; inputTokens: number; outputTokens: number; costUsd: number };
}

function groupOf(r: UsageRow, by: Grouping): string {
  switch (by) {
    case "provider":
      return r.provider ?? "-";
    case "model":
      return r.model ?? "-";
    case "day":
      return new Date(r.timeMs).toISOString().slice(0, 10);
    case "key":
      return r.keyLabel ?? "-";
    case "protocol":
      return r.protocol;
  }
}

/** The median of the values, or null for none. */
function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : Math.round((sorted[mid - 1] + sorted[mid]) / 2);
}

/** Totals per group (sorted by requests, then name) and the local/hosted summary. */
export function usageReport(rows: UsageRow[], sinceMs: number, by: Grouping): UsageReport {
  const groups = new Map<string, UsageGroup & { ttfbs: number[] }>();
  const local = {
    requests: 0,
    inputTokens: 0,
    outputTokens: 0,
    hostedEquivalentUsd: 0,
    comparedWith: [] as string[],
  };
  const hosted = { requests: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };
  const compared = new Set<string>();
  for (const r of rows) {
    const name = groupOf(r, by);
    let g = groups.get(name);
    if (!g) {
      g = {
        group: name,
        requests: 0,
        errors: 0,
        withoutUsage: 0,
        inputTokens: 0,
        outputTokens: 0,
        p50TtfbMs: null,
        costUsd: 0,
        unpriced: 0,
        ttfbs: [],
      };
      groups.set(name, g);
    }
    g.requests++;
    if (r.status >= 400) g.errors++;
    const served = r.provider !== null;
    if (served && r.inputTokens === null && r.outputTokens === null) g.withoutUsage++;
    g.inputTokens += r.inputTokens ?? 0;
    g.outputTokens += r.outputTokens ?? 0;
    if (r.ttfbMs !== null) g.ttfbs.push(r.ttfbMs);
    if (r.costUsd !== null) g.costUsd += r.costUsd;
    else if (served && r.status < 400) g.unpriced++;
    if (r.local === true) {
      local.requests++;
      local.inputTokens += r.inputTokens ?? 0;
      local.outputTokens += r.outputTokens ?? 0;
      if (r.hostedEquivalentUsd !== null) local.hostedEquivalentUsd += r.hostedEquivalentUsd;
      if (r.hostedEquivalentModel !== null) compared.add(r.hostedEquivalentModel);
    } else if (r.local === false) {
      hosted.requests++;
      hosted.inputTokens += r.inputTokens ?? 0;
      hosted.outputTokens += r.outputTokens ?? 0;
      hosted.costUsd += r.costUsd ?? 0;
    }
  }
  local.comparedWith = [...compared].sort();
  return {
    sinceMs,
    by,
    groups: [...groups.values()]
      .map(({ ttfbs, ...g }) => ({ ...g, p50TtfbMs: median(ttfbs) }))
      .sort((a, b) => b.requests - a.requests || a.group.localeCompare(b.group)),
    local,
    hosted,
  };
}

/**
 * The start of a `--since` window in ms since the epoch: `24h`, `7d`, `30m`, or a date
 * `YYYY-MM-DD` (UTC midnight); undefined when the text is neither.
 */
export function sinceMs(text: string, nowMs: number): number | undefined {
  const span = /^(\d+)([mhdw])$/.exec(text.trim());
  if (span) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[span[2]]!;
    return nowMs - Number(span[1]) * unit;
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(text.trim())) {
    const t = Date.parse(`${text.trim()}T00:00:00Z`);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}
