import type { UsageBackend, UsageBucket, UsageRow } from "./usage_store.ts";

/** What the main thread asks the usage worker (usage_worker.ts)… */
type Ask =
  | { op: "open"; path: string }
  | { op: "insert"; rows: UsageRow[] }
  | { op: "rows"; sinceMs: number }
  | { op: "prune"; beforeMs: number }
  | { op: "series"; sinceMs: number; untilMs: number; bucketMs: number }
  | { op: "close" };

/** …numbered, so its answer finds it. */
export type WorkerAsk = Ask & { id: number };

/** The worker's answer to the ask with the same id. */
export type WorkerAnswer =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: string };

/** How long an ask may wait for its answer; past it the worker counts as hung. */
const ANSWER_MS = 5_000;

interface Waiting {
  resolve: (value: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The SQLite usage store run in a Web Worker, so its synchronous writes (4–7 µs a row) leave the
 * event loop that serves requests: the main thread only posts a batch and reads ok or an error.
 * A worker that dies, hangs (no answer within ANSWER_MS) or cannot open the file makes every
 * pending and later call fail and sets `broken`, so the recorder opens a fresh one (at most every
 * reopenMs) and counts rows as for any other store failure; the worker is terminated on close.
 */
export class WorkerUsageBackend implements UsageBackend {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, Waiting>();
  readonly #answerMs: number;
  #nextId = 0;
  #broken: Error | undefined;

  private constructor(workerUrl: string, answerMs: number) {
    this.#answerMs = answerMs;
    this.#worker = new Worker(workerUrl, { type: "module" });
    this.#worker.onmessage = (event: MessageEvent<WorkerAnswer>) => {
      const answer = event.data;
      const waiting = this.#waiting.get(answer.id);
      if (!waiting) return;
      this.#waiting.delete(answer.id);
      clearTimeout(waiting.timer);
      if (answer.ok) waiting.resolve(answer.value);
      else waiting.reject(new Error(answer.error));
    };
    this.#worker.onerror = (event: ErrorEvent) => {
      // Handled here: a failing writer must never take the server down with it.
      event.preventDefault();
      this.#break(new Error(`the usage store's writer thread failed: ${event.message}`));
    };
    this.#worker.onmessageerror = () => {
      this.#break(new Error("the usage store's writer thread sent an unreadable message"));
    };
  }

  /**
   * Starts a worker and opens (creating and migrating) the store at path in it; rejects, with
   * the worker ended, when it cannot. workerUrl and answerMs are for tests.
   */
  static async open(
    path: string,
    options: { workerUrl?: string; answerMs?: number } = {},
  ): Promise<WorkerUsageBackend> {
    const backend = new WorkerUsageBackend(
      options.workerUrl ?? new URL("./usage_worker.ts", import.meta.url).href,
      options.answerMs ?? ANSWER_MS,
    );
    try {
      await backend.#ask({ op: "open", path });
      return backend;
    } catch (e) {
      backend.#break(e as Error);
      throw e;
    }
  }

  /** True once this backend can never write again (its worker died or hung): open another. */
  get broken(): boolean {
    return this.#broken !== undefined;
  }

  insert(rows: UsageRow[]): Promise<void> {
    return this.#ask({ op: "insert", rows }) as Promise<void>;
  }

  rows(sinceMs: number): Promise<UsageRow[]> {
    return this.#ask({ op: "rows", sinceMs }) as Promise<UsageRow[]>;
  }

  prune(beforeMs: number): Promise<number> {
    return this.#ask({ op: "prune", beforeMs }) as Promise<number>;
  }

  series(sinceMs: number, untilMs: number, bucketMs: number): Promise<UsageBucket[]> {
    return this.#ask({ op: "series", sinceMs, untilMs, bucketMs }) as Promise<UsageBucket[]>;
  }

  /** Closes the database (bounded by answerMs) and ends the worker, so the process can exit. */
  async close(): Promise<void> {
    if (this.#broken) return;
    try {
      await this.#ask({ op: "close" });
    } finally {
      this.#break(new Error("the usage store is closed"));
    }
  }

  #ask(ask: Ask): Promise<unknown> {
    if (this.#broken) return Promise.reject(this.#broken);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#break(
          new Error(
            `the usage store's writer thread did not answer within ${this.#answerMs} ms (a stalled disk?)`,
          ),
        );
      }, this.#answerMs);
      this.#waiting.set(id, { resolve, reject, timer });
      try {
        this.#worker.postMessage({ ...ask, id } satisfies WorkerAsk);
      } catch (e) {
        // Rows that cannot be copied to the worker: this call fails, the worker stays.
        clearTimeout(timer);
        this.#waiting.delete(id);
        reject(e);
      }
    });
  }

  /** Ends the worker and fails every call still waiting, and every later one, with e. */
  #break(e: Error): void {
    if (this.#broken) return;
    this.#broken = e;
    this.#worker.terminate();
    for (const waiting of this.#waiting.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(e);
    }
    this.#waiting.clear();
  }
}
