import type { Logger } from "./log.ts";

/** One finished request, as the usage store keeps it (SPEC §8). Unknown counts are null. */
export interface UsageRow {
  /** When it finished, ms since the epoch. */
  timeMs: number;
  requestId: string;
  /** Which client key (a fingerprint, never the key) when auth is on. */
  keyLabel: string | null;
  /** The client protocol (`chat_completions`, `messages`, …). */
  protocol: string;
  /** The model asked for. */
  model: string | null;
  provider: string | null;
  upstreamModel: string | null;
  /** Served by a local server (null: nothing served it). */
  local: boolean | null;
  status: number;
  streamed: boolean;
  attempts: number;
  queuedMs: number | null;
  ttfbMs: number | null;
  totalMs: number;
  inputTokens: number | null;
  outputTokens: number | null;
  cachedInputTokens: number | null;
  cacheWriteTokens: number | null;
  reasoningTokens: number | null;
  costUsd: number | null;
  /** For a local request: what it is compared against (`bitrouter usage`), and its cost there. */
  hostedEquivalentModel: string | null;
  hostedEquivalentUsd: number | null;
  /** How the body ended when it did not end cleanly. */
  outcome: string | null;
}

/** One time bucket's totals (usage_series.ts); tokens count only rows that reported them. */
export interface UsageBucket {
  /** The bucket's start, ms since the epoch. */
  startMs: number;
  requests: number;
  localTokens: number;
  hostedTokens: number;
  hostedCostUsd: number;
  /** What the local requests would have cost hosted (their hosted equivalent). */
  savedUsd: number;
}

/**
 * Where usage rows live: SQLite now (sqlite_store.ts); the interface is what a PostgreSQL
 * backend (several BitRouters sharing one store) would implement too. Every call may throw: the
 * recorder in front of it never lets that reach a request.
 */
export interface UsageBackend {
  /** Writes rows, all or none. */
  insert(rows: UsageRow[]): Promise<void>;
  /** Rows finished at or after sinceMs, oldest first. */
  rows(sinceMs: number): Promise<UsageRow[]>;
  /** Deletes rows finished before beforeMs; how many went. */
  prune(beforeMs: number): Promise<number>;
  /**
   * Totals per time bucket of bucketMs (UTC-aligned: hours, days) for rows finished in
   * [sinceMs, untilMs), oldest first, empty buckets left out; summed where the rows are (the
   * dashboard's charts), never by shipping the rows. Absent: the backend cannot tell.
   */
  series?(sinceMs: number, untilMs: number, bucketMs: number): Promise<UsageBucket[]>;
  close(): Promise<void>;
  /**
   * True once the backend can never write again (a writer thread that died or hung): the recorder
   * counts the batch it was writing as lost, drops the backend and opens another (at most every
   * reopenMs). Absent: a failure may pass.
   */
  readonly broken?: boolean;
}

/** What the recorder does and how much it holds. */
export interface RecorderOptions {
  /** Opens the backend; called again (at most every reopenMs) after it failed. */
  open: () => Promise<UsageBackend>;
  log: Logger;
  /** Where the store is, for messages. */
  where: string;
  retentionDays: number;
  now?: () => number;
  /** Rows are written at least this often… */
  flushMs?: number;
  /** …or as soon as this many wait. */
  batchRows?: number;
  /** Rows held while the store cannot be written; past it they are lost (counted). */
  maxQueuedRows?: number;
  reopenMs?: number;
}

/**
 * Takes rows on the request path (an array push) and writes them in batches off it: every
 * flushMs, at batchRows, and at close. A store that cannot be opened or written (read-only path,
 * full disk, locked) never fails a request: rows that cannot be written wait for the next flush
 * (bounded by maxQueuedRows), rows while the store cannot be opened at all are dropped; both are
 * counted as lost and logged once per failure streak.
 */
export class UsageRecorder {
  readonly #o: Required<Omit<RecorderOptions, "now">> & { now: () => number };
  #backend: UsageBackend | undefined;
  #opening: Promise<void> | undefined;
  #lastOpenAttempt = -Infinity;
  #queue: UsageRow[] = [];
  #flushing: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #failing = false;
  #lastPruneMs = -Infinity;
  #closed = false;
  /** Rows that could not be stored. */
  lost = 0;
  /** Rows stored. */
  written = 0;

  constructor(options: RecorderOptions) {
    this.#o = {
      now: options.now ?? Date.now,
      flushMs: 1000,
      batchRows: 200,
      maxQueuedRows: 10_000,
      reopenMs: 60_000,
      ...options,
    };
  }

  /** Queues a row; never throws, never waits. */
  add(row: UsageRow): void {
    if (this.#closed) {
      this.lost++;
      return;
    }
    if (this.#queue.length >= this.#o.maxQueuedRows) {
      this.lost++;
      this.#failed(new Error(`more than ${this.#o.maxQueuedRows} rows waiting`));
      return;
    }
    this.#queue.push(row);
    if (this.#queue.length >= this.#o.batchRows) void this.flush();
    else if (this.#timer === undefined) {
      const timer = setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, this.#o.flushMs);
      // A pending flush must not keep a finished process alive: close() flushes.
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** Writes what waits now; resolves when done (or failed: the rows wait for the next try). */
  flush(): Promise<void> {
    this.#flushing ??= this.#flushOnce().finally(() => this.#flushing = undefined);
    return this.#flushing;
  }

  async #flushOnce(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const backend = await this.#ready();
    if (!backend) {
      // A store that cannot even be opened may stay so for good: what waits is lost (counted)
      // rather than held; opening is tried again every reopenMs.
      this.#drop();
      return;
    }
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, this.#o.batchRows);
      try {
        await backend.insert(batch);
      } catch (e) {
        this.#failed(e);
        if (backend.broken) {
          // Its writer died or hung mid-batch: whether the batch was committed is unknown, and
          // a row written twice would count its cost twice, so the batch counts as lost.
          this.#queue.splice(0, batch.length);
          this.lost += batch.length;
          this.#dropIfBroken(backend);
        }
        // Rows wait for the next flush unless this is the last one.
        if (this.#closed) this.#drop();
        return;
      }
      this.#queue.splice(0, batch.length);
      this.written += batch.length;
      if (this.#failing) {
        this.#failing = false;
        this.#o.log.info(`usage store ${this.#o.where}: writing again`);
      }
    }
    await this.#pruneNowAndThen(backend);
  }

  /** The backend, opening it (again) when due; undefined while it cannot be opened. */
  async #ready(): Promise<UsageBackend | undefined> {
    if (this.#backend) return this.#backend;
    if (!this.#opening && this.#o.now() - this.#lastOpenAttempt >= this.#o.reopenMs) {
      this.#lastOpenAttempt = this.#o.now();
      this.#opening = this.#o.open().then(
        (b) => {
          this.#backend = b;
        },
        (e) => this.#failed(e),
      ).finally(() => this.#opening = undefined);
    }
    await this.#opening;
    return this.#backend;
  }

  /** Prunes rows past retention at most once an hour. */
  async #pruneNowAndThen(backend: UsageBackend): Promise<void> {
    const now = this.#o.now();
    if (now - this.#lastPruneMs < 3_600_000) return;
    this.#lastPruneMs = now;
    try {
      const gone = await backend.prune(now - this.#o.retentionDays * 86_400_000);
      if (gone > 0) {
        this.#o.log.debug(
          `usage store: pruned ${gone} rows older than ${this.#o.retentionDays} days`,
        );
      }
    } catch (e) {
      this.#o.log.warn(`usage store ${this.#o.where}: pruning failed: ${messageOf(e)}`);
      this.#dropIfBroken(backend);
    }
  }

  /** Forgets a backend that can never write again, so the next flush opens another. */
  #dropIfBroken(backend: UsageBackend): void {
    if (!backend.broken || this.#backend !== backend) return;
    this.#backend = undefined;
    void backend.close().catch(() => {});
  }

  #drop(): void {
    this.lost += this.#queue.length;
    this.#queue = [];
  }

  /** Logs the first failure of a streak only: a broken disk must not flood the log. */
  #failed(e: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    this.#o.log.error(
      `usage store ${this.#o.where} cannot be written: ${
        messageOf(e)
      }; requests are still served, but their usage rows wait and then are lost (counted in bitrouter_usage_rows_lost_total) — check the path's permissions and free space, set database.url elsewhere, or usage: false`,
    );
  }

  /**
   * The store's totals per bucket (see UsageBackend.series), after writing what waits so they
   * include the requests just finished; undefined when the store cannot be read or cannot tell.
   */
  async series(
    sinceMs: number,
    untilMs: number,
    bucketMs: number,
  ): Promise<UsageBucket[] | undefined> {
    if (this.#closed) return undefined;
    await this.flush();
    const backend = await this.#ready();
    if (!backend?.series) return undefined;
    try {
      return await backend.series(sinceMs, untilMs, bucketMs);
    } catch (e) {
      this.#o.log.debug(`usage store ${this.#o.where}: cannot sum usage: ${messageOf(e)}`);
      this.#dropIfBroken(backend);
      return undefined;
    }
  }

  /** Flushes what waits and closes the backend (at shutdown); rows that cannot be written are lost. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#lastOpenAttempt = -Infinity;
    await this.flush();
    await this.#flushing;
    this.#drop();
    const backend = this.#backend;
    this.#backend = undefined;
    await backend?.close().catch(() => {});
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
