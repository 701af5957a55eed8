import type { HealthSettings } from "../config/types.ts";

/**
 * Passive endpoint health (a circuit breaker per provider and model): endpoints that keep failing
 * are tried last for a while instead of first on every request, and one request probes them when
 * the while is over. Nothing here sends traffic; the proxy reports what happened.
 */

/** Where an endpoint stands. */
export type HealthState = "healthy" | "cooling" | "half_open" | "probing";

/** One endpoint's record, as the status endpoint shows it. */
export interface EndpointStatus {
  provider: string;
  model: string;
  state: HealthState;
  consecutiveFailures: number;
  /** Milliseconds of cooldown left, when cooling. */
  coolingForMs?: number;
  lastError?: string;
}

interface Entry {
  provider: string;
  model: string;
  failures: number;
  /** On the `now()` clock: until when it is cooled down (0: not cooling). */
  until: number;
  /**
   * When a request started probing it after its cooldown (0: none); others treat it as cooling
   * meanwhile. A probe that never reports (its client left) lapses after one cooldown.
   */
  probingSince: number;
  lastError?: string;
}

/**
 * The most records kept. Pins name any model at a provider, so every invented id an upstream
 * refuses would otherwise leave a record until a success or a reload (issue 12: 10,000 of them
 * made an 8.8 MB status answer). A real setup calls far fewer endpoints than this.
 */
export const MAX_HEALTH_RECORDS = 1024;

/** The longest `lastError` kept: enough to say why, bounded whatever the upstream answered. */
export const MAX_LAST_ERROR_LENGTH = 300;

/** What a request learnt about an endpoint. */
export type Outcome =
  | { ok: true }
  | { ok: false; error: string; retryAfterSecs?: number };

/** The health of every endpoint BitRouter has called, kept across reloads for those that remain. */
export class HealthBook {
  /*
   * Two least-recently-used lists (a Map keeps insertion order; re-inserting on use moves a record
   * to the end). When full, a record that is only counting failures is dropped before one that has
   * been cooled: losing a count costs at most a few more failed attempts, while losing a cooldown
   * sends requests first to an endpoint known to be down. A flood of invented pins mostly fails
   * once per name, so it churns the counting list and leaves the cooled endpoints — the declared
   * ones in use — in place; only a flood of more cooled records than the cap can push out the
   * least recently used of those. Both lists are O(1) per operation.
   */
  /** Records with failures below the threshold and no cooldown yet (`until === 0`). */
  readonly #counting = new Map<string, Entry>();
  /** Records that have been cooled down (cooling, half-open or probing). */
  readonly #cooled = new Map<string, Entry>();
  #settings: HealthSettings;
  readonly #now: () => number;
  readonly #max: number;

  /** @param maxRecords the most records kept (the least recently used go first). */
  constructor(settings: HealthSettings, now: () => number, maxRecords = MAX_HEALTH_RECORDS) {
    this.#settings = settings;
    this.#now = now;
    this.#max = Math.max(1, maxRecords);
  }

  /** How many endpoints have a record. */
  get size(): number {
    return this.#counting.size + this.#cooled.size;
  }

  #get(key: string): Entry | undefined {
    return this.#cooled.get(key) ?? this.#counting.get(key);
  }

  /** Marks a record as just used: it moves to the end of its list, the last to be dropped. */
  #touch(key: string, e: Entry): void {
    const list = e.until === 0 ? this.#counting : this.#cooled;
    list.delete(key);
    list.set(key, e);
  }

  /** New settings from a reloaded config; the records stay. */
  configure(settings: HealthSettings): void {
    this.#settings = settings;
  }

  /** Forgets endpoints whose provider no longer exists (after a reload). */
  retainProviders(ids: Set<string>): void {
    for (const list of [this.#counting, this.#cooled]) {
      for (const [key, e] of list) if (!ids.has(e.provider)) list.delete(key);
    }
  }

  /**
   * The candidates in the order to try them: healthy ones first, in their order, then the cooling
   * ones, in theirs — never dropped, so a request still tries everything when all are cooling.
   * An endpoint whose cooldown is over goes back in its place unless another request is already
   * probing it. `touch: false` only looks (the dashboard): the records keep their recency.
   */
  order<T extends { provider: { id: string }; model: string }>(candidates: T[], touch = true): T[] {
    if (this.size === 0) return candidates;
    const now = this.#now();
    const ready: T[] = [];
    const cooling: T[] = [];
    for (const c of candidates) {
      const key = keyOf(c.provider.id, c.model);
      const e = this.#get(key);
      if (e && touch) this.#touch(key, e);
      if (!e || (e.until <= now && !this.#probeInFlight(e, now))) ready.push(c);
      else cooling.push(c);
    }
    return cooling.length === 0 ? candidates : [...ready, ...cooling];
  }

  /** Called as a request is sent to an endpoint: past its cooldown, that request is its probe. */
  sending(provider: string, model: string): void {
    const e = this.#get(keyOf(provider, model));
    const now = this.#now();
    if (e && e.until !== 0 && e.until <= now && !this.#probeInFlight(e, now)) {
      e.probingSince = now;
    }
  }

  #probeInFlight(e: Entry, now: number): boolean {
    return e.probingSince !== 0 && now - e.probingSince < this.#settings.cooldownSecs * 1000;
  }

  /**
   * Records the result of one call to an endpoint; returns for how many milliseconds the endpoint
   * is now cooled down, when this failure cooled it (so the caller can log it once).
   */
  report(provider: string, model: string, outcome: Outcome): number | undefined {
    const key = keyOf(provider, model);
    if (outcome.ok) {
      this.#counting.delete(key);
      this.#cooled.delete(key);
      return undefined;
    }
    let e = this.#get(key);
    if (!e) {
      if (this.size >= this.#max) this.#evictOne();
      e = { provider, model, failures: 0, until: 0, probingSince: 0 };
    }
    e.failures++;
    e.lastError = clip(outcome.error, MAX_LAST_ERROR_LENGTH);
    const s = this.#settings;
    const now = this.#now();
    const wasProbe = e.probingSince !== 0;
    e.probingSince = 0;
    let until: number | undefined;
    if (outcome.retryAfterSecs !== undefined && outcome.retryAfterSecs > 0) {
      until = now + Math.min(outcome.retryAfterSecs, s.maxRetryAfterSecs) * 1000;
    } else if (wasProbe || e.failures >= s.failures) until = now + s.cooldownSecs * 1000;
    if (until === undefined) {
      this.#touch(key, e);
      return undefined;
    }
    const wasCooling = e.until > now;
    if (e.until === 0) this.#counting.delete(key);
    e.until = Math.max(e.until, until);
    this.#touch(key, e);
    return wasCooling ? undefined : e.until - now;
  }

  /** Drops the least recently used record, one only counting failures if there is one. */
  #evictOne(): void {
    const list = this.#counting.size > 0 ? this.#counting : this.#cooled;
    const oldest = list.keys().next();
    if (!oldest.done) list.delete(oldest.value);
  }

  /** Every endpoint with a record, for `GET /v1/bitrouter/status` and the log. */
  snapshot(): EndpointStatus[] {
    const now = this.#now();
    return [...this.#cooled.values(), ...this.#counting.values()].map((e) => ({
      provider: e.provider,
      model: e.model,
      state: this.#probeInFlight(e, now)
        ? "probing"
        : e.until > now
        ? "cooling"
        : e.until !== 0
        ? "half_open"
        : "healthy",
      consecutiveFailures: e.failures,
      coolingForMs: e.until > now ? Math.round(e.until - now) : undefined,
      lastError: e.lastError,
    }));
  }
}

function keyOf(provider: string, model: string): string {
  return `${provider}\u0000${model}`;
}

/** The text cut to at most `max` characters, marked with "…", never splitting a surrogate pair. */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return text.slice(0, end) + "…";
}

/** Seconds in a `Retry-After` header (delta-seconds or an HTTP date), if it has a usable value. */
export function retryAfterSecs(
  value: string | null | undefined,
  nowMs = Date.now(),
): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, (date - nowMs) / 1000);
}
