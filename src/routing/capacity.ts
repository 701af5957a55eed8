import { isLimited, type Provider, type RateLimit } from "../config/types.ts";
import { patternCovers, RateWindow, type RateWindowState } from "./rate_window.ts";

/**
 * Capacity (SPEC §3.5): how many requests each endpoint may have in flight and how many it may
 * be sent per minute. An endpoint at capacity is busy — the proxy moves on to the next candidate,
 * and when every candidate is busy the request waits here, first come first served, for the first
 * slot among its candidates. Nothing here sends traffic or knows HTTP; the proxy takes a Lease
 * before it sends and releases it when the attempt is over, on every path.
 *
 * A provider without limits has no state here unless its requests are balanced (which needs the
 * in-flight counts): the proxy checks `isLimited` and takes no lease, so unlimited setups pay
 * nothing per request.
 */

/** One candidate as capacity sees it: the provider (or one account of it) and the upstream model. */
export interface Endpoint {
  provider: Provider;
  model: string;
}

/** A counter of requests in flight against a cap (undefined: no cap, only counted). */
export class Slots {
  inFlight = 0;
  cap: number | undefined;

  constructor(cap: number | undefined) {
    this.cap = cap;
  }

  /** Whether one more request may start. */
  get free(): boolean {
    return this.cap === undefined || this.inFlight < this.cap;
  }
}

/** The capacity state of one provider (or account): its slots, per-model slots and rate windows. */
class ProviderCapacity {
  readonly slots: Slots;
  /** Per-model slots, only for models with their own `max_concurrent` (so bounded by the config). */
  readonly models = new Map<string, Slots>();
  /** One window per `rate_limits` rule, shared by the models the rule covers. */
  windows: RateWindow[] = [];
  /** When it was last given a request, as a sequence number (0: never), for balance's ties. */
  lastUsed = 0;

  constructor(provider: Provider) {
    this.slots = new Slots(undefined);
    this.configure(provider);
  }

  /** New settings (a reload, a discovery round); the counts in flight stay. */
  configure(provider: Provider): void {
    this.slots.cap = provider.maxConcurrent ?? provider.reportedSlots;
    const caps = provider.modelMaxConcurrent ?? {};
    for (const [model, s] of this.models) {
      if (caps[model] === undefined) s.cap = undefined;
      if (caps[model] === undefined && s.inFlight === 0) this.models.delete(model);
    }
    for (const [model, cap] of Object.entries(caps)) {
      const s = this.models.get(model);
      if (s) s.cap = cap;
      else this.models.set(model, new Slots(cap));
    }
    const rules = bySpecificity(provider.rateLimits ?? []);
    const old = this.windows;
    this.windows = rules.map((rule) => {
      const kept = old.find((w) => w.rule.pattern === rule.pattern);
      if (kept) {
        kept.rule = rule;
        return kept;
      }
      return new RateWindow(rule);
    });
  }

  /** The window covering a model: the most specific rule's, or none. */
  windowFor(model: string): RateWindow | undefined {
    for (const w of this.windows) if (patternCovers(w.rule.pattern, model)) return w;
    return undefined;
  }
}

/** Most specific pattern first: exact ids, then longer prefixes, then `*`. */
function bySpecificity(rules: RateLimit[]): RateLimit[] {
  const rank = (p: string) => p === "*" ? -1 : p.endsWith("*") ? p.length : 1e6;
  return [...rules].sort((a, b) => rank(b.pattern) - rank(a.pattern));
}

/** The key of a provider's (or account's) capacity: its id, which names the account too. */
function keyOf(provider: Provider): string {
  return provider.id;
}

/** One request's hold on a slot of an endpoint; `release` frees it, once. */
export class Lease {
  #held = true;
  constructor(
    readonly book: CapacityBook,
    readonly provider: ProviderCapacity,
    readonly model: Slots | undefined,
  ) {}

  /** Frees the slot and hands it to the first waiting request that can use it. */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    this.provider.slots.inFlight--;
    if (this.model) this.model.inFlight--;
    // One slot freed: at most one waiter can take it.
    this.book.slotFreed(1);
  }
}

/** Why a candidate is busy, for messages: `local (2/2 in flight)`. */
export interface BusyReason {
  provider: string;
  reason: string;
}

/** A request waiting for a slot. */
interface Waiter<T extends Endpoint> {
  candidates: T[];
  tokens: number;
  grant: (g: Grant<T>) => void;
  fail: (reason: unknown) => void;
}

/** A slot a waiting request was given: which candidate, and the lease on it. */
export interface Grant<T extends Endpoint> {
  candidate: T;
  lease: Lease;
}

/** One endpoint's capacity as the status endpoint and the CLI show it. */
export interface CapacityStatus {
  provider: string;
  inFlight: number;
  cap?: number;
  models?: { model: string; inFlight: number; cap?: number }[];
  rateLimits?: RateWindowState[];
}

/** The most requests that may wait at once; past it a request is refused at once (SPEC §11). */
export const MAX_QUEUED = 10_000;

/** Why a request could not join the queue: MAX_QUEUED are already waiting. */
export class QueueFullError extends Error {
  constructor() {
    super(`${MAX_QUEUED} requests are already waiting`);
    this.name = "QueueFullError";
  }
}

/** Every endpoint's capacity and the queue of requests waiting for it; kept across reloads. */
export class CapacityBook {
  readonly #providers = new Map<string, ProviderCapacity>();
  readonly #now: () => number;
  /** FIFO (a Set keeps insertion order, and a waiter leaves it in O(1)): a freed slot goes to the first waiter that can use it. */
  readonly #queue = new Set<Waiter<Endpoint>>();
  #recheck: ReturnType<typeof setTimeout> | undefined;
  /** Counts leases given, to tell which endpoint was used least recently. */
  #sequence = 0;
  /** Whether any endpoint has a rate window (else no timer is ever needed). */
  #windowed = false;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** How many requests are waiting. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Requests in flight over every endpoint (0 when all is released; for tests and status). */
  get inFlight(): number {
    let n = 0;
    for (const p of this.#providers.values()) n += p.slots.inFlight;
    return n;
  }

  #stateOf(provider: Provider): ProviderCapacity {
    const key = keyOf(provider);
    let state = this.#providers.get(key);
    if (!state) {
      state = new ProviderCapacity(provider);
      this.#providers.set(key, state);
      if (state.windows.length) this.#windowed = true;
    }
    return state;
  }

  /**
   * New providers (a reload or a discovery round): caps and windows change, the counts in flight
   * stay, so requests running under the old caps release into the new ones; a raised cap lets
   * waiting requests in. A provider that left keeps its state only while requests hold it.
   */
  configure(providers: Iterable<Provider>): void {
    const present = new Set<string>();
    for (const p of providers) {
      const key = keyOf(p);
      present.add(key);
      const state = this.#providers.get(key);
      if (state) state.configure(p);
      // Limited endpoints are listed (status, CLI) before their first request.
      else if (isLimited(p)) this.#providers.set(key, new ProviderCapacity(p));
    }
    for (const [key, state] of this.#providers) {
      if (!present.has(key) && state.slots.inFlight === 0) this.#providers.delete(key);
    }
    this.#windowed = [...this.#providers.values()].some((s) => s.windows.length > 0);
    this.slotFreed();
  }

  /**
   * A lease on a slot of the endpoint, or undefined when it is busy (every slot taken, or over a
   * rate window). `tokens` is what the request counts against `tokens_per_minute`.
   */
  tryAcquire(e: Endpoint, tokens: number): Lease | undefined {
    const state = this.#stateOf(e.provider);
    const model = state.models.size ? state.models.get(e.model) : undefined;
    if (!state.slots.free || (model && !model.free)) return undefined;
    const window = state.windows.length ? state.windowFor(e.model) : undefined;
    if (window) {
      const now = this.#now();
      if (!window.admits(now, tokens)) return undefined;
      window.record(now, tokens);
    }
    state.slots.inFlight++;
    if (model) model.inFlight++;
    state.lastUsed = ++this.#sequence;
    return new Lease(this, state, model);
  }

  /**
   * How loaded an endpoint is, for balance: in flight relative to its cap (without a cap, in
   * flight); Infinity when it is busy.
   */
  load(e: Endpoint, tokens: number): number {
    if (!isLimited(e.provider) && !this.#providers.has(keyOf(e.provider))) return 0;
    const state = this.#stateOf(e.provider);
    const model = state.models.get(e.model);
    if (!state.slots.free || (model && !model.free)) return Infinity;
    const window = state.windowFor(e.model);
    if (window && !window.admits(this.#now(), tokens)) return Infinity;
    const ratio = (s: Slots) => s.cap === undefined ? s.inFlight : s.inFlight / s.cap;
    return Math.max(ratio(state.slots), model ? ratio(model) : 0);
  }

  /**
   * When the endpoint was last given a request (0: never): balance breaks a tie in load by
   * the least recently used, so one-at-a-time requests alternate instead of all going first.
   */
  lastUsed(e: Endpoint): number {
    return this.#providers.get(keyOf(e.provider))?.lastUsed ?? 0;
  }

  /** Why an endpoint is busy now, for the overloaded message. */
  busyReason(e: Endpoint): BusyReason {
    const state = this.#stateOf(e.provider);
    const model = state.models.get(e.model);
    const id = e.provider.id;
    if (!state.slots.free) {
      return { provider: id, reason: `${state.slots.inFlight}/${state.slots.cap} in flight` };
    }
    if (model && !model.free) {
      return { provider: id, reason: `${e.model} ${model.inFlight}/${model.cap} in flight` };
    }
    const w = state.windowFor(e.model)?.state(this.#now());
    if (w) {
      const over = w.requestsPerMinute !== undefined && w.requests >= w.requestsPerMinute
        ? `${w.requests}/${w.requestsPerMinute} requests this minute`
        : `${w.tokens}/${w.tokensPerMinute} tokens this minute`;
      return { provider: id, reason: over };
    }
    return { provider: id, reason: "busy" };
  }

  /**
   * Waits, first come first served, for a slot at any of `candidates` (tried in their order when
   * several free up at once). Rejects with `signal`'s reason when it aborts (the queue time is up,
   * the client left, or a shutdown), and the request leaves the queue at once.
   */
  wait<T extends Endpoint>(
    candidates: T[],
    tokens: number,
    signal: AbortSignal,
  ): Promise<Grant<T>> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#queue.size >= MAX_QUEUED) {
      return Promise.reject(new QueueFullError());
    }
    // A slot that freed since the caller looked, and that no earlier waiter wanted, is free to take.
    for (const candidate of candidates) {
      const lease = this.tryAcquire(candidate, tokens);
      if (lease) return Promise.resolve({ candidate, lease });
    }
    return new Promise<Grant<T>>((resolve, reject) => {
      const waiter: Waiter<T> = {
        candidates,
        tokens,
        grant: (g) => {
          signal.removeEventListener("abort", onAbort);
          resolve(g);
        },
        fail: reject,
      };
      const onAbort = () => {
        this.#queue.delete(waiter as unknown as Waiter<Endpoint>);
        reject(signal.reason);
        if (this.#windowed) this.#scheduleRecheck();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#queue.add(waiter as unknown as Waiter<Endpoint>);
      if (this.#windowed) this.#scheduleRecheck();
    });
  }

  /**
   * Slots freed or caps changed: hands slots to waiting requests in arrival order, at most
   * `grants` of them (a release frees one).
   */
  slotFreed(grants = Infinity): void {
    if (this.#queue.size === 0) return;
    for (const w of this.#queue) {
      if (grants <= 0) break;
      let granted: Grant<Endpoint> | undefined;
      for (const candidate of w.candidates) {
        const lease = this.tryAcquire(candidate, w.tokens);
        if (lease) {
          granted = { candidate, lease };
          break;
        }
      }
      if (granted) {
        this.#queue.delete(w);
        grants--;
        w.grant(granted);
      }
    }
    if (this.#windowed) this.#scheduleRecheck();
  }

  /**
   * Waiting requests held back only by a rate window get no release to wake them: a timer checks
   * again when the soonest window frees. None runs while nobody waits.
   */
  #scheduleRecheck(): void {
    if (this.#recheck !== undefined) {
      clearTimeout(this.#recheck);
      this.#recheck = undefined;
    }
    if (this.#queue.size === 0) return;
    const now = this.#now();
    let soonest = Infinity;
    for (const w of this.#queue) {
      for (const c of w.candidates) {
        const state = this.#providers.get(keyOf(c.provider));
        const window = state?.windowFor(c.model);
        const ms = window?.freesInMs(now) ?? 0;
        if (ms > 0 && ms < soonest) soonest = ms;
      }
    }
    if (soonest === Infinity) return;
    const timer = setTimeout(() => {
      this.#recheck = undefined;
      this.slotFreed();
    }, soonest);
    Deno.unrefTimer(timer);
    this.#recheck = timer;
  }

  /** Every endpoint with capacity state: in flight, caps and rate windows. */
  snapshot(): CapacityStatus[] {
    const now = this.#now();
    return [...this.#providers].map(([key, s]) => {
      const out: CapacityStatus = { provider: key, inFlight: s.slots.inFlight };
      if (s.slots.cap !== undefined) out.cap = s.slots.cap;
      if (s.models.size) {
        out.models = [...s.models].map(([model, m]) => ({
          model,
          inFlight: m.inFlight,
          cap: m.cap,
        }));
      }
      if (s.windows.length) out.rateLimits = s.windows.map((w) => w.state(now));
      return out;
    });
  }
}

/**
 * What a request counts against `tokens_per_minute` before it is sent: about four bytes a token
 * for its input, plus the output it allows (`max_tokens` and its synonyms) — the estimate hosted
 * APIs themselves charge a rate window with.
 */
export function estimateTokens(bodyBytes: number, body: Record<string, unknown>): number {
  const out = body.max_tokens ?? body.max_completion_tokens ?? body.max_output_tokens;
  return Math.ceil(bodyBytes / 4) + (typeof out === "number" && out > 0 ? out : 0);
}
