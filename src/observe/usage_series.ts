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

/** Reads sums per bucket of [sinceMs, untilMs) from the store (UsageRecorder.series); undefined when it cannot. */
export type SeriesReader = (
  sinceMs: number,
  untilMs: number,
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

/**
 * How long the sum of a finished hour or day is kept before it is read again: rows land in the
 * past only through a late flush (at most a second or so), and leave it only by a prune.
 */
const FINISHED_MS = 3_600_000;

/** How long after its end a bucket may still gain rows (the recorder flushes every second). */
const SETTLE_MS = 10_000;

/** A finished bucket's sum as last read (null: the store holds no row in it). */
interface Finished {
  bucket: UsageBucket | null;
  /** When it is read again. */
  expires: number;
}

/**
 * The usage overview, summed in the store (off the event loop) at most every ttlMs however often
 * the status endpoint is asked: a cached answer is served while a newer one is read.
 *
 * Every store read covers one bucket — an hour, or a day — so no single query scans more than a
 * day of rows, whatever the store holds, and the writer thread that runs it (and must answer
 * within its time limit, or be replaced) is never held long. Finished hours and days are read once
 * and kept (FINISHED_MS); each refresh reads only the current hour, and today is the sum of its
 * hours. The first answer waits at most waitMs, so a status request stays quick (`bitrouter route`
 * gives it 300 ms); past it the overview says `pending`.
 */
export class UsageOverviewCache {
  #value: UsageOverview | null | undefined;
  #at = -Infinity;
  #reading: Promise<UsageOverview | null> | undefined;
  /** Finished buckets by `size:start`. */
  readonly #finished = new Map<string, Finished>();

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
    const currentHour = Math.floor(now / HOUR_MS) * HOUR_MS;
    const firstHour = currentHour - 23 * HOUR_MS;
    const today = Math.floor(now / DAY_MS) * DAY_MS;
    const firstDay = today - 29 * DAY_MS;
    let value: UsageOverview | null = null;
    try {
      const current = await this.read(currentHour, currentHour + HOUR_MS, HOUR_MS);
      const hours = current && await this.#finishedBuckets(firstHour, currentHour, HOUR_MS, now);
      const days = hours && await this.#finishedBuckets(firstDay, today, DAY_MS, now);
      if (current && hours && days) {
        const hourly = [...hours, ...current];
        value = usageOverviewOf(hourly, [...days, todayOf(hourly, today)], now);
      }
    } catch {
      value = null;
    }
    this.#value = value;
    this.#at = now;
    return value;
  }

  /**
   * The sums of the finished buckets of `size` in [from, until), read one bucket per query where
   * not kept; undefined when the store cannot be read. Buckets that left the window are dropped.
   */
  async #finishedBuckets(
    from: number,
    until: number,
    size: number,
    now: number,
  ): Promise<UsageBucket[] | undefined> {
    for (const [key, f] of this.#finished) {
      const [s, start] = key.split(":").map(Number);
      if ((s === size && start < from) || f.expires <= now) this.#finished.delete(key);
    }
    const out: UsageBucket[] = [];
    for (let start = from; start < until; start += size) {
      const key = `${size}:${start}`;
      let f = this.#finished.get(key);
      if (!f) {
        const read = await this.read(start, start + size, size);
        if (!read) return undefined;
        // Read while rows may still land in it: read again at the next refresh.
        const settled = now >= start + size + SETTLE_MS;
        f = { bucket: read[0] ?? null, expires: settled ? now + FINISHED_MS : now };
        this.#finished.set(key, f);
      }
      if (f.bucket) out.push(f.bucket);
    }
    return out;
  }
}

/** Today's bucket: the sum of its hours (all of them within the last 24). */
function todayOf(hours: UsageBucket[], today: number): UsageBucket {
  const sum: UsageBucket = {
    startMs: today,
    requests: 0,
    localTokens: 0,
    hostedTokens: 0,
    hostedCostUsd: 0,
    savedUsd: 0,
  };
  for (const h of hours) {
    if (h.startMs < today) continue;
    sum.requests += h.requests;
    sum.localTokens += h.localTokens;
    sum.hostedTokens += h.hostedTokens;
    sum.hostedCostUsd += h.hostedCostUsd;
    sum.savedUsd += h.savedUsd;
  }
  return sum;
}
