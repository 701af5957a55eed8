/**
 * The usage store's writer thread (worker_store.ts starts it): node:sqlite's calls are
 * synchronous, so they run here rather than on the event loop that serves requests. It gets the
 * binary's permissions (a worker inherits them) and nothing more.
 *
 * `deno compile` does not follow `new Worker(…)`: this file is embedded with
 * `--include src/observe/usage_worker.ts` (deno.json's compile task, release.yml).
 */
import { SqliteUsageBackend } from "./sqlite_store.ts";
import type { WorkerAnswer, WorkerAsk } from "./worker_store.ts";

interface WorkerScope {
  onmessage: ((event: MessageEvent<WorkerAsk>) => void) | null;
  postMessage(message: WorkerAnswer): void;
}

const scope = globalThis as unknown as WorkerScope;
let store: SqliteUsageBackend | undefined;
// One ask at a time, in the order they came (open is async: it creates the folder).
let previous: Promise<void> = Promise.resolve();

scope.onmessage = (event) => {
  const ask = event.data;
  previous = previous.then(async () => {
    try {
      scope.postMessage({ id: ask.id, ok: true, value: await answer(ask) });
    } catch (e) {
      scope.postMessage({
        id: ask.id,
        ok: false,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  });
};

async function answer(ask: WorkerAsk): Promise<unknown> {
  if (ask.op === "open") {
    if (store) throw new Error("the usage store is already open in this worker");
    store = await SqliteUsageBackend.open(ask.path);
    return undefined;
  }
  if (!store) throw new Error("the usage store is not open in this worker");
  switch (ask.op) {
    case "insert":
      return await store.insert(ask.rows);
    case "rows":
      return await store.rows(ask.sinceMs);
    case "prune":
      return await store.prune(ask.beforeMs);
    case "series":
      return await store.series(ask.sinceMs, ask.untilMs, ask.bucketMs);
    case "close": {
      const closing = store;
      store = undefined;
      return await closing.close();
    }
  }
}
