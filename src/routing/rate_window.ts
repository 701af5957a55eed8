import type { RateLimit } from "../config/types.ts";

/** Seconds in a window: `requests_per_minute` and `tokens_per_minute` count over the last minute. */
const SECONDS = 60;

/** What a window holds now, as the status endpoint shows it. */
export interface RateWindowState {
  pattern: string;
  requests: number;
  requestsPerMinute?: number;
  tokens: number;
  tokensPerMinute?: number;
}

/**
 * One `rate_limits` window (SPEC §3.5): the requests and tokens sent over the last minute, in
 * one-second buckets, so its memory is fixed whatever the traffic and a check costs a few
 * additions. The clock is injected so tests can move a minute on without waiting one.
 */
export class RateWindow {
  readonly #requests = new Float64Array(SECONDS);
  readonly #tokens = new Float64Array(SECONDS);
  #requestTotal = 0;
  #tokenTotal = 0;
  /** The second (on the `now()` clock) of the newest bucket; NaN before the first use. */
  #second = NaN;
  rule: RateLimit;

  constructor(rule: RateLimit) {
    this.rule = rule;
  }

  /** Empties the buckets that are more than a minute old at `nowMs`. */
  #advance(nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    if (second === this.#second) return;
    if (Number.isNaN(this.#second) || second - this.#second >= SECONDS) {
      this.#requests.fill(0);
      this.#tokens.fill(0);
      this.#requestTotal = 0;
      this.#tokenTotal = 0;
    } else {
      for (let s = this.#second + 1; s <= second; s++) {
        const i = s % SECONDS;
        this.#requestTotal -= this.#requests[i];
        this.#tokenTotal -= this.#tokens[i];
        this.#requests[i] = 0;
        this.#tokens[i] = 0;
      }
    }
    if (second > this.#second || Number.isNaN(this.#second)) this.#second = second;
  }

  /**
   * Whether one more request of `tokens` fits in the window at `nowMs`. A request bigger than a
   * whole minute's token budget fits an empty window, or it could never be sent at all.
   */
  admits(nowMs: number, tokens: number): boolean {
    this.#advance(nowMs);
    const { requestsPerMinute: rpm, tokensPerMinute: tpm } = this.rule;
    if (rpm !== undefined && this.#requestTotal + 1 > rpm) return false;
    if (tpm !== undefined && this.#tokenTotal > 0 && this.#tokenTotal + tokens > tpm) return false;
    return true;
  }

  /** Counts one request of `tokens` sent at `nowMs`. */
  record(nowMs: number, tokens: number): void {
    this.#advance(nowMs);
    const i = this.#second % SECONDS;
    this.#requests[i] += 1;
    this.#tokens[i] += tokens;
    this.#requestTotal += 1;
    this.#tokenTotal += tokens;
  }

  /** Milliseconds from `nowMs` until the oldest counted second leaves the window (0: empty). */
  freesInMs(nowMs: number): number {
    this.#advance(nowMs);
    for (let s = this.#second - SECONDS + 1; s <= this.#second; s++) {
      const i = ((s % SECONDS) + SECONDS) % SECONDS;
      if (this.#requests[i] > 0) return Math.max(1, (s + SECONDS) * 1000 - nowMs);
    }
    return 0;
  }

  /** The window's counts at `nowMs`. */
  state(nowMs: number): RateWindowState {
    this.#advance(nowMs);
    return {
      pattern: this.rule.pattern,
      requests: this.#requestTotal,
      requestsPerMinute: this.rule.requestsPerMinute,
      tokens: this.#tokenTotal,
      tokensPerMinute: this.rule.tokensPerMinute,
    };
  }
}

/** Whether a `rate_limits` pattern (`*`, `prefix*` or an exact id) covers an upstream model id. */
export function patternCovers(pattern: string, model: string): boolean {
  if (pattern === "*") return true;
  if (pattern.endsWith("*")) return model.startsWith(pattern.slice(0, -1));
  return pattern === model;
}
