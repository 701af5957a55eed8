import { dirname, join, resolve } from "node:path";
import type { Found } from "../config/find.ts";
import { CliError, type Io } from "./io.ts";
import { findForCli } from "./load.ts";

/** Where a background router (`bitrouter start`) keeps its pid and its log. */
export interface DaemonFiles {
  /** The config the router runs with, as `serve` would find it. */
  found: Found;
  dir: string;
  pid: string;
  log: string;
}

/** What a pid file says: the router's process id and, once it is ready, its URL. */
export interface PidRecord {
  pid: number;
  url?: string;
}

/**
 * The pid and log files: beside the config file found by the lookup `serve` uses (SPEC §2.1), or
 * in zero-config under `$BITROUTER_HOME` or `~/.bitrouter/`, so that `start`, `stop` and `logs`
 * run from the same place with the same `-c` agree on one router.
 */
export function daemonFilesFor(
  found: Found,
  cwd: string,
  env: (name: string) => string | undefined,
): DaemonFiles {
  let dir: string;
  if (found.path) dir = dirname(found.path);
  else {
    const home = env("BITROUTER_HOME");
    const userHome = env("HOME") ?? env("USERPROFILE");
    if (home) dir = resolve(cwd, home);
    else if (userHome) dir = join(userHome, ".bitrouter");
    else {
      throw new CliError(
        "no place for the pid and log files: no config file and HOME is unset",
        "name a config with -c, or set BITROUTER_HOME",
      );
    }
  }
  return { found, dir, pid: join(dir, "bitrouter.pid"), log: join(dir, "bitrouter.log") };
}

/** Finds the config like `serve` (`-c` first) and returns the daemon files beside it. */
export function findDaemonFiles(explicit: string | undefined, io: Io): DaemonFiles {
  return daemonFilesFor(findForCli(explicit, io), io.cwd, io.env);
}

/** Parses a pid file's text (`PID` then optionally the URL); undefined when it is not one. */
export function parsePidFile(text: string): PidRecord | undefined {
  const [first, second] = text.split("\n").map((l) => l.trim());
  if (!/^\d+$/.test(first ?? "")) return undefined;
  const pid = Number(first);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return second ? { pid, url: second } : { pid };
}

/** The pid file's record; undefined when there is no file, or it holds no pid. */
export async function readPidFile(path: string): Promise<PidRecord | undefined> {
  try {
    return parsePidFile(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new CliError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Writes the pid file atomically (a temporary file renamed over it), so no reader sees half. */
export async function writePidFile(path: string, record: PidRecord): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  const text = record.url ? `${record.pid}\n${record.url}\n` : `${record.pid}\n`;
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new CliError(
      `cannot write ${path}: ${(e as Error).message}`,
      "the pid file lives beside the config; pick a config in a folder you can write with -c",
    );
  }
}

/**
 * Runs `body` holding `PID_FILE.lock` beside the pid file, created exclusively, so two `start`s
 * (or a `start` and a `restart`) for one config cannot both spawn a router between checking the
 * pid file and writing it. A lock left by a start that died (its pid no longer running) is taken
 * over; one held by a running start is refused.
 */
export async function withStartLock<T>(
  files: DaemonFiles,
  holderRunning: (pid: number) => Promise<boolean>,
  body: () => Promise<T>,
): Promise<T> {
  const lock = `${files.pid}.lock`;
  for (let attempt = 0;; attempt++) {
    try {
      // In zero-config the folder (~/.bitrouter) may not exist yet.
      await Deno.mkdir(files.dir, { recursive: true });
      await Deno.writeTextFile(lock, `${Deno.pid}\n`, { createNew: true });
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) {
        throw new CliError(
          `cannot write ${lock}: ${(e as Error).message}`,
          "the pid file lives beside the config; pick a config in a folder you can write with -c",
        );
      }
      if (attempt > 0) {
        throw new CliError(
          `${lock} is held by another \`bitrouter start\` or \`restart\``,
          "wait for it, then see `bitrouter status`",
        );
      }
      const holder = parseInt(await Deno.readTextFile(lock).catch(() => ""));
      if (Number.isInteger(holder) && await holderRunning(holder)) {
        throw new CliError(
          `another \`bitrouter start\` or \`restart\` (pid ${holder}) is starting this config's router`,
          `wait for it, then see \`bitrouter status\`; if no such command runs, remove ${lock}`,
        );
      }
      await Deno.remove(lock).catch(() => {});
    }
  }
  try {
    return await body();
  } finally {
    await Deno.remove(lock).catch(() => {});
  }
}

/** Removes the pid file if it still names `pid` (a newer router may have replaced it). */
export async function removePidFile(path: string, pid: number): Promise<void> {
  const now = await readPidFile(path).catch(() => undefined);
  if (now && now.pid !== pid) return;
  await Deno.remove(path).catch(() => {});
}

/** The text of a file from byte `offset` to its end ("" when there is no file). */
export async function readFrom(path: string, offset: number): Promise<string> {
  return new TextDecoder().decode(await readBytes(path, offset));
}

/**
 * Bytes [from, to) of a file (`to`: its size now), fewer when it is shorter; none when there is
 * no file.
 */
export async function readBytes(path: string, from: number, to?: number): Promise<Uint8Array> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch {
    return new Uint8Array(0);
  }
  try {
    const out = new Uint8Array(Math.max(0, (to ?? (await file.stat()).size) - from));
    await file.seek(from, Deno.SeekMode.Start);
    let read = 0;
    while (read < out.length) {
      const n = await file.read(out.subarray(read));
      if (n === null) break;
      read += n;
    }
    return out.subarray(0, read);
  } finally {
    file.close();
  }
}

/** Several byte chunks as one. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The last `n` lines of a text (without the empty piece after a final newline). */
export function lastLines(text: string, n: number): string[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return n <= 0 ? [] : lines.slice(-n);
}
