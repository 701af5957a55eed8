import { basename, dirname } from "node:path";

/** How long a file must be quiet before a change is reported: one save is often several events. */
export const WATCH_DEBOUNCE_MS = 250;

/** A running watch; see `watchFile`. */
export interface FileWatch {
  /** The file watched. */
  readonly path: string;
  /** Stops watching; resolves once the watcher is closed. No change is reported after it. */
  close(): Promise<void>;
}

/** What `watchFile` can be given besides the file and the callback. */
export interface WatchOptions {
  /** Quiet time before `onChange` is called; default `WATCH_DEBOUNCE_MS`. */
  debounceMs?: number;
  /** When the watch stops by itself (its folder was removed…); no change is reported after. */
  onError?: (error: unknown) => void;
}

/**
 * Calls `onChange` once a burst of changes to `path` has settled. The file's folder is watched,
 * not the file: editors save by writing a new file and renaming it over the old one, which
 * replaces the inode a file watch would follow. Events for other files of the folder are ignored.
 * Throws when the folder cannot be watched.
 */
export function watchFile(
  path: string,
  onChange: () => void,
  options: WatchOptions = {},
): FileWatch {
  const name = basename(path);
  const watcher = Deno.watchFs(dirname(path), { recursive: false });
  const settled = debounce(onChange, options.debounceMs ?? WATCH_DEBOUNCE_MS);
  let closed = false;
  const loop = (async () => {
    try {
      for await (const event of watcher) {
        if (!closed && isEventFor(event, name)) settled.trigger();
      }
      // The watch ends by itself when its folder goes away.
      if (!closed) options.onError?.(new Error(`${dirname(path)} can no longer be watched`));
    } catch (e) {
      if (!closed) options.onError?.(e);
    }
  })();
  return {
    path,
    async close() {
      closed = true;
      settled.cancel();
      try {
        watcher.close();
      } catch { /* already closed after an error */ }
      await loop;
    },
  };
}

/**
 * Whether a folder event concerns the file named `name`: any creation, change, rename or removal
 * naming it. Reads (`access`) are not changes, and BitRouter reads the file itself on reload.
 */
export function isEventFor(event: Deno.FsEvent, name: string): boolean {
  return event.kind !== "access" && event.paths.some((p) => basename(p) === name);
}

/** A trailing debounce; see `debounce`. */
export interface Debounced {
  /** (Re)starts the quiet period; `fn` runs when it ends without another trigger. */
  trigger(): void;
  /** Drops a pending call. */
  cancel(): void;
}

/** The timer functions `debounce` uses; injectable for tests. */
export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(id: unknown): void;
}

const REAL_TIMERS: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/** Calls `fn` once `ms` have passed since the last `trigger()`. */
export function debounce(fn: () => void, ms: number, timers: Timers = REAL_TIMERS): Debounced {
  let timer: unknown;
  return {
    trigger() {
      if (timer !== undefined) timers.clear(timer);
      timer = timers.set(() => {
        timer = undefined;
        fn();
      }, ms);
    },
    cancel() {
      if (timer !== undefined) timers.clear(timer);
      timer = undefined;
    },
  };
}
