import type { RequestRecord } from "./log.ts";

/** One finished request as the dashboard and `bitrouter status` show it; never prompt text or keys. */
export interface RecentRequest {
  /** When it finished, ISO 8601. */
  time: string;
  request_id: string;
  /** The client protocol, as the request log names it. */
  protocol: string;
  /** The model asked for. */
  model: string | null;
  /** Who served it (null: nothing did). */
  provider: string | null;
  upstream_model: string | null;
  local: boolean | null;
  status: number;
  streamed: boolean;
  attempts: number;
  queued_ms: number | null;
  ttfb_ms: number | null;
  total_ms: number;
  /** Tokens the upstream reported; null when it reported none (unknown, never 0). */
  input_tokens: number | null;
  output_tokens: number | null;
  cost_usd: number | null;
  /** How the body ended when it did not end cleanly, or why it failed; short. */
  error: string | null;
}

/** How many finished requests the dashboard's list holds. */
export const RECENT_REQUESTS = 100;

/** The longest error text shown per request: enough to say why, bounded whatever came back. */
const MAX_ERROR = 200;

/** Told of each finished request as it is pushed (the events endpoint); must be cheap. */
export type RecentListener = (record: RequestRecord, timeMs: number) => void;

/**
 * The last finished requests, in a fixed array used as a ring: a push on the request path stores
 * the record and its time (no copy, no JSON), and the view is built only when someone asks.
 * The records are the request log's own, which nothing changes once they are logged. Listeners
 * (the dashboard's event streams) are told of each push; with none, a push checks one size.
 */
export class RecentRequests {
  readonly #records: (RequestRecord | undefined)[];
  readonly #times: Float64Array;
  readonly #listeners = new Set<RecentListener>();
  /** Where the next push goes. */
  #next = 0;
  #count = 0;

  constructor(readonly capacity: number = RECENT_REQUESTS) {
    this.#records = new Array(capacity);
    this.#times = new Float64Array(capacity);
  }

  /** Keeps a finished request (timeMs: when it finished, ms since the epoch); O(1). */
  push(record: RequestRecord, timeMs: number): void {
    this.#records[this.#next] = record;
    this.#times[this.#next] = timeMs;
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#count < this.capacity) this.#count++;
    if (this.#listeners.size !== 0) {
      for (const listener of this.#listeners) {
        try {
          listener(record, timeMs);
        } catch { /* a listener's failure is its own: the request path goes on */ }
      }
    }
  }

  /** Calls listener with every later push; returns what stops it. */
  listen(listener: RecentListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** How many are held. */
  get size(): number {
    return this.#count;
  }

  /** The requests held, newest first (at most `limit`). */
  list(limit = this.capacity): RecentRequest[] {
    const out: RecentRequest[] = [];
    for (let i = 1; i <= Math.min(this.#count, limit); i++) {
      const at = (this.#next - i + this.capacity) % this.capacity;
      out.push(recentRequestOf(this.#records[at]!, this.#times[at]));
    }
    return out;
  }
}

/** The dashboard's view of one finished request. */
export function recentRequestOf(r: RequestRecord, timeMs: number): RecentRequest {
  const error = r.error ?? r.outcome ?? null;
  return {
    time: new Date(timeMs).toISOString(),
    request_id: r.requestId,
    protocol: r.protocol,
    model: r.model ?? null,
    provider: r.provider ?? null,
    upstream_model: r.upstreamModel ?? null,
    local: r.local ?? null,
    status: r.status,
    streamed: r.streamed,
    attempts: r.attempts,
    queued_ms: r.queuedMs ?? null,
    ttfb_ms: r.ttfbMs ?? null,
    total_ms: r.totalMs,
    input_tokens: r.usage?.input ?? null,
    output_tokens: r.usage?.output ?? null,
    cost_usd: r.costUsd ?? null,
    error: error === null
      ? null
      : error.length > MAX_ERROR
      ? `${error.slice(0, MAX_ERROR)}…`
      : error,
  };
}
