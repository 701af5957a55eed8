import type { UsageBucket } from "./usage_store.ts";

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** One bucket of the dashboard's usage charts, as the status endpoint shows it. */
export interface UsagePoint {
  /** The bucket's start (UTC hour or day), ISO 8601. */
  start: string;
  requests: number;
  local_tokens: number;
  hosted_tokens: number;
  hosted_cost_usd: number;
  /** What the local requests would have cost on their hosted equivalent. */
  saved_usd: number;
}

/** Totals over a span (today, the last 7 days). */
export type UsageTotals = Omit<UsagePoint, "start">;

/** Usage for the dashboard and `bitrouter status`, from the usage store. */
export interface UsageOverview {
  /** Tokens per UTC hour over the last 24 hours, oldest first (24 points, empty ones too). */
  hourly: UsagePoint[];
  /** Per UTC day over the last 30 days, oldest first (30 points). */
  daily: UsagePoint[];
  /** Since UTC midnight. */
  today: UsageTotals;
  /** The last 7 UTC days, today included. */
  week: UsageTotals;
  /** True while the store has not answered yet: the numbers are not known yet (all zero). */
  pending?: boolean;
}

/** Reads sums per bucket from the store (UsageRecorder.series); undefined when it cannot. */
export type SeriesReader = (
  sinceMs: number,
  bucketMs: number,
) => Promise<UsageBucket[] | undefined>;

/** Dense buckets (zeros where the store has none) from `first` on, `count` of them. */
function densePoints(buckets: UsageBucket[], first: number, size: number, count: number) {
  const at = new Map(buckets.map((b) => [b.startMs, b]));
  const out: UsagePoint[] = [];
  for (let i = 0; i < count; i++) {
    const start = first + i * size;
    const b = at.get(start);
    out.push({
      start: new Date(start).toISOString(),
      requests: b?.requests ?? 0,
      local_tokens: b?.localTokens ?? 0,
      hosted_tokens: b?.hostedTokens ?? 0,
      hosted_cost_usd: round(b?.hostedCostUsd ?? 0),
      saved_usd: round(b?.savedUsd ?? 0),
    });
  }
  return out;
}

/** Sums of points. */
function totalOf(points: UsagePoint[]): UsageTotals {
  const t = { requests: 0, local_tokens: 0, hosted_tokens: 0, hosted_cost_usd: 0, saved_usd: 0 };
  for (const p of points) {
    t.requests += p.requests;
    t.local_tokens += p.local_tokens;
    t.hosted_tokens += p.hosted_tokens;
    t.hosted_cost_usd += p.hosted_cost_usd;
    t.saved_usd += p.saved_usd;
  }
  t.hosted_cost_usd = round(t.hosted_cost_usd);
  t.saved_usd = round(t.saved_usd);
  return t;
}

/** Micro-dollar precision: sums of floats otherwise print as 0.30000000000000004. */
function round(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}

/** The overview from the store's hourly and daily sums, at nowMs. */
export function usageOverviewOf(
  hours: UsageBucket[],
  days: UsageBucket[],
  nowMs: number,
): UsageOverview {
  const firstHour = Math.floor(nowMs / HOUR_MS) * HOUR_MS - 23 * HOUR_MS;
  const firstDay = Math.floor(nowMs / DAY_MS) * DAY_MS - 29 * DAY_MS;
  const daily = densePoints(days, firstDay, DAY_MS, 30);
  return {
    hourly: densePoints(hours, firstHour, HOUR_MS, 24),
    daily,
    today: totalOf(daily.slice(-1)),
    week: totalOf(daily.slice(-7)),
  };
}

/** An overview with nothing known yet. */
function pendingOverview(nowMs: number): UsageOverview {
  return { ...usageOverviewOf([], [], nowMs), pending: true };
}

/** How long the sums of the days before today are kept: they change only at midnight (or a prune). */
const PAST_DAYS_MS = 300_000;

/**
 * The usage overview, summed in the store (off the event loop) at most every ttlMs however often
 * the status endpoint is asked: a cached answer is served while a newer one is read. Each read
 * sums the last 24 hours and today; the 29 days before today are summed again only every five
 * minutes, so an open dashboard does not rescan a month of rows every few seconds. The first
 * answer waits at most waitMs, so a status request stays quick (`bitrouter route` gives it
 * 300 ms); past it the overview says `pending`.
 */
export class UsageOverviewCache {
  #value: UsageOverview | null | undefined;
  #at = -Infinity;
  #reading: Promise<UsageOverview | null> | undefined;
  #pastDays: { firstDay: number; at: number; buckets: UsageBucket[] } | undefined;

  constructor(
    private readonly read: SeriesReader,
    private readonly now: () => number = Date.now,
    private readonly ttlMs = 3_000,
    private readonly waitMs = 150,
  ) {}

  /** The overview (null: the store cannot be read). */
  async get(): Promise<UsageOverview | null> {
    const now = this.now();
    if (this.#value !== undefined && now - this.#at < this.ttlMs) return this.#value;
    const reading = this.#reading ??= this.#readOnce(now).finally(() => {
      this.#reading = undefined;
    });
    if (this.#value !== undefined) return this.#value;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.waitMs);
    });
    const first = await Promise.race([reading, late]);
    clearTimeout(timer);
    return first === undefined ? pendingOverview(now) : first;
  }

  async #readOnce(now: number): Promise<UsageOverview | null> {
    const firstHour = Math.floor(now / HOUR_MS) * HOUR_MS - 23 * HOUR_MS;
    const today = Math.floor(now / DAY_MS) * DAY_MS;
    const firstDay = today - 29 * DAY_MS;
    let value: UsageOverview | null = null;
    try {
      const hours = await this.read(firstHour, HOUR_MS);
      const todays = hours && await this.read(today, DAY_MS);
      let past = this.#pastDays;
      if (todays && (past?.firstDay !== firstDay || now - past.at >= PAST_DAYS_MS)) {
        const days = await this.read(firstDay, DAY_MS);
        past = days
          ? { firstDay, at: now, buckets: days.filter((b) => b.startMs < today) }
          : undefined;
        this.#pastDays = past;
      }
      value = hours && todays && past
        ? usageOverviewOf(hours, [...past.buckets, ...todays], now)
        : null;
    } catch {
      value = null;
    }
    this.#value = value;
    this.#at = now;
    return value;
  }
}
