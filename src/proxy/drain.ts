/** What a client is told when BitRouter ends its request because it is shutting down. */
export const SHUTDOWN_MESSAGE = "BitRouter is shutting down";

/**
 * The abort reason of an upstream request that BitRouter ended because it is shutting down, so
 * that the proxy tells it apart from a client that left or a network error: a stream ends with
 * the client protocol's error event, a request still waiting for its answer gets a 503.
 */
export class ShutdownError extends DOMException {
  constructor(message = SHUTDOWN_MESSAGE) {
    super(message, "AbortError");
  }
}

/**
 * The upstream requests in flight, so that the end of a graceful drain can end them all at once
 * (SIGTERM: running requests get `shutdown_grace_secs`, then this). Each forwarded attempt is
 * tracked from its first byte sent until its answer is relayed: a set insertion and a deletion
 * per attempt, nothing per chunk.
 */
export class Drain {
  readonly #running = new Set<AbortController>();
  #reason: ShutdownError | undefined;

  /** Tracks one upstream request; one that starts after `endAll` is aborted at once. */
  track(upstream: AbortController): void {
    if (this.#reason) upstream.abort(this.#reason);
    else this.#running.add(upstream);
  }

  /** The request is over (relayed, failed over, or its client left). */
  untrack(upstream: AbortController): void {
    this.#running.delete(upstream);
  }

  /** How many upstream requests are running. */
  get size(): number {
    return this.#running.size;
  }

  /** Whether `endAll` was called. */
  get ended(): boolean {
    return this.#reason !== undefined;
  }

  /**
   * Aborts every upstream request with a ShutdownError, and every one started later: their
   * streams end with the client's error event and requests still waiting get a 503. Returns how
   * many were running.
   */
  endAll(message?: string): number {
    this.#reason ??= new ShutdownError(message);
    const running = [...this.#running];
    this.#running.clear();
    for (const upstream of running) upstream.abort(this.#reason);
    return running.length;
  }
}
