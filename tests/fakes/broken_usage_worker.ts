/**
 * A usage writer thread that breaks after opening, for tests of WorkerUsageBackend: the path it
 * is asked to open says how — `die` throws an uncaught error at the first write (the thread
 * ends), `hang` never answers a write.
 */
import type { WorkerAnswer, WorkerAsk } from "../../src/observe/worker_store.ts";

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<WorkerAsk>) => void) | null;
  postMessage(message: WorkerAnswer): void;
};
let how = "";

scope.onmessage = (event) => {
  const ask = event.data;
  if (ask.op === "open") {
    how = ask.path;
    scope.postMessage({ id: ask.id, ok: true, value: undefined });
  } else if (ask.op === "close") {
    scope.postMessage({ id: ask.id, ok: true, value: undefined });
  } else if (how === "die") {
    throw new Error("writer thread crashed");
  }
  // `hang`: no answer.
};
