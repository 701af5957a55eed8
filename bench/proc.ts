/**
 * The bench's child processes (upstream, floor, BitRouter, Portkey, wrk): every one is
 * registered, so that a failure or Ctrl-C still stops them all, and its output is kept for errors.
 */

/** Where a child runs, and what it finds in its environment besides the bench's own. */
export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string>;
}

/** A running child whose stdout and stderr are drained into a buffer of recent lines. */
export class Proc {
  readonly child: Deno.ChildProcess;
  readonly recent: string[] = [];
  #waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  exited = false;
  readonly done: Promise<Deno.CommandStatus>;
  /** Resolves once both output streams have been read to their end. */
  readonly drained: Promise<void>;

  constructor(readonly name: string, cmd: string, args: string[], opts: SpawnOptions = {}) {
    this.child = new Deno.Command(cmd, {
      args,
      cwd: opts.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...opts.env },
    }).spawn();
    this.done = this.child.status.finally(() => this.exited = true);
    this.drained = Promise.all([this.#drain(this.child.stdout), this.#drain(this.child.stderr)])
      .then(() => {});
  }

  get pid(): number {
    return this.child.pid;
  }

  async #drain(stream: ReadableStream<Uint8Array>) {
    let rest = "";
    try {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        const lines = (rest + text).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) this.#line(line);
      }
    } catch {
      // the process went away; what was read is in `recent`
    }
    if (rest) this.#line(rest);
  }

  #line(raw: string) {
    // deno-lint-ignore no-control-regex
    const line = raw.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").trimEnd();
    this.recent.push(line);
    if (this.recent.length > 40) this.recent.shift();
    for (const w of [...this.#waiters]) {
      const m = w.re.exec(line);
      if (m) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  }

  /** Resolves with the first output line matching `re`; rejects on exit or after `ms`. */
  waitForLine(re: RegExp, ms: number): Promise<RegExpExecArray> {
    for (const line of this.recent) {
      const m = re.exec(line);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name} printed no line matching ${re} within ${ms} ms`)),
        ms,
      );
      const waiter = {
        re,
        resolve: (m: RegExpExecArray) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      this.#waiters.push(waiter);
      this.done.then((s) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited with code ${s.code} before it was ready`));
      });
    });
  }

  /** The last lines it printed, for error messages. */
  tail(n = 15): string {
    return this.recent.slice(-n).map((l) => `    ${l}`).join("\n");
  }

  /** SIGTERM, then SIGKILL if it is still there after `ms`. */
  async stop(ms = 3000): Promise<void> {
    if (this.exited) return;
    try {
      this.child.kill("SIGTERM");
    } catch {
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), ms));
    if (await Promise.race([this.done.then(() => "done" as const), late]) === "late") {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await this.done;
    }
    clearTimeout(timer);
  }
}

/** Every child still running (pinServers sets their CPUs). */
export const running = new Set<Proc>();

/** Spawns a registered child process. */
export function spawn(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): Proc {
  const p = new Proc(name, cmd, args, opts);
  running.add(p);
  p.done.then(() => running.delete(p));
  return p;
}

/** Stops every child still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

/** The path of an executable on PATH (or in `extraDirs`), if any. */
export function findExecutable(name: string, extraDirs: string[] = []): string | undefined {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":").filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const path = `${dir}/${name}`;
    try {
      const info = Deno.statSync(path);
      if (info.isFile && (info.mode ?? 0o111) & 0o111) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A loopback port that was free a moment ago (for nginx, which cannot report port 0 back). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * The resident set size of a process in KiB, from /proc/PID/status (Linux only). Read through
 * `cat` because Deno wants --allow-all, not just --allow-read, to read a child's /proc entries.
 */
export async function rssKib(pid: number): Promise<number | undefined> {
  if (Deno.build.os !== "linux") return undefined;
  try {
    const out = await new Deno.Command("cat", {
      args: [`/proc/${pid}/status`],
      stdout: "piped",
      stderr: "null",
    }).output();
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(new TextDecoder().decode(out.stdout));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Progress and warnings go to stderr; the report goes to stdout. */
export function log(msg: string) {
  console.error(msg);
}
