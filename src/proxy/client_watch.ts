import type { Deadline, Deadlines } from "./deadlines.ts";

/**
 * How long a request runs before BitRouter starts listening for its client leaving.
 *
 * Reading `request.signal` of a Deno.serve request starts an async op that stays pending until
 * the request ends: about 11 µs of CPU per request in Deno 2.9.6, a fifth of a whole passthrough
 * (bench). Most requests that finish this fast need no watching, since their upstream is done
 * too; the rest subscribe when this much has passed. A subscription that comes after the client
 * left still fires at once (the runtime remembers the cancellation), so a disconnect is noticed
 * within this delay plus one deadline tick (20 ms): inside SPEC §5's 100 ms.
 */
export const WATCH_AFTER_MS = 30;

/** A watch on one request's client; see `watchClient`. */
export interface ClientWatch {
  /** True once the client is known to have left. */
  gone(): boolean;
  /** Stops watching: the request is over, or its upstream attempt is. */
  release(): void;
}

/**
 * Calls `onGone` once the client of `request` disconnects, starting to listen `WATCH_AFTER_MS`
 * after `startedAt` (at once when that moment has passed).
 */
export function watchClient(
  request: Request,
  startedAt: number,
  deps: { now: () => number; deadlines: Deadlines },
  onGone: () => void,
): ClientWatch {
  let signal: AbortSignal | undefined;
  let released = false;
  const subscribe = () => {
    if (released) return;
    signal = request.signal;
    if (signal.aborted) onGone();
    else signal.addEventListener("abort", onGone, { once: true });
  };
  const at = startedAt + WATCH_AFTER_MS;
  let deadline: Deadline | undefined;
  if (deps.now() >= at) subscribe();
  else deadline = deps.deadlines.add(at, subscribe);
  // Methods, not a `get gone()`: an object literal with a getter made each request about 20 µs
  // slower in Deno 2.9.6 (bench), far more than the getter itself costs in isolation.
  return {
    gone: () => signal?.aborted ?? false,
    release() {
      released = true;
      deps.deadlines.cancel(deadline);
      signal?.removeEventListener("abort", onGone);
    },
  };
}
