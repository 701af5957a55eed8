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

/** What a request learnt about an endpoint. */
export type Outcome =
  | { ok: true }
  | { ok: false; error: string; retryAfterSecs?: number };

/** The health of every endpoint BitRouter has called, kept across reloads for those that remain. */
export class HealthBook {
  readonly #entries = new Map<string, Entry>();
  #settings: HealthSettings;
  readonly #now: () => number;

  constructor(settings: HealthSettings, now: () => number) {
    this.#settings = settings;
    this.#now = now;
  }

  /** New settings from a reloaded config; the records stay. */
  configure(settings: HealthSettings): void {
    this.#settings = settings;
  }

  /** Forgets endpoints whose provider no longer exists (after a reload). */
  retainProviders(ids: Set<string>): void {
    for (const [key, e] of this.#entries) if (!ids.has(e.provider)) this.#entries.delete(key);
  }

  /**
   * The candidates in the order to try them: healthy ones first, in their order, then the cooling
   * ones, in theirs — never dropped, so a request still tries everything when all are cooling.
   * An endpoint whose cooldown is over goes back in its place unless another request is already
   * probing it.
   */
  order<T extends { provider: { id: string }; model: string }>(candidates: T[]): T[] {
    if (this.#entries.size === 0) return candidates;
    const now = this.#now();
    const ready: T[] = [];
    const cooling: T[] = [];
    for (const c of candidates) {
      const e = this.#entries.get(keyOf(c.provider.id, c.model));
      if (!e || (e.until <= now && !this.#probeInFlight(e, now))) ready.push(c);
      else cooling.push(c);
    }
    return cooling.length === 0 ? candidates : [...ready, ...cooling];
  }

  /** Called as a request is sent to an endpoint: past its cooldown, that request is its probe. */
  sending(provider: string, model: string): void {
    const e = this.#entries.get(keyOf(provider, model));
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
      this.#entries.delete(key);
      return undefined;
    }
    const e = this.#entries.get(key) ??
      { provider, model, failures: 0, until: 0, probingSince: 0 };
    this.#entries.set(key, e);
    e.failures++;
    e.lastError = outcome.error;
    const s = this.#settings;
    const now = this.#now();
    const wasProbe = e.probingSince !== 0;
    e.probingSince = 0;
    let until: number | undefined;
    if (outcome.retryAfterSecs !== undefined && outcome.retryAfterSecs > 0) {
      until = now + Math.min(outcome.retryAfterSecs, s.maxRetryAfterSecs) * 1000;
    } else if (wasProbe || e.failures >= s.failures) until = now + s.cooldownSecs * 1000;
    if (until === undefined) return undefined;
    const wasCooling = e.until > now;
    e.until = Math.max(e.until, until);
    return wasCooling ? undefined : e.until - now;
  }

  /** Every endpoint with a record, for `GET /v1/bitrouter/status` and the log. */
  snapshot(): EndpointStatus[] {
    const now = this.#now();
    return [...this.#entries.values()].map((e) => ({
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
