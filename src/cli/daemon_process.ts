import { fileURLToPath } from "node:url";
import { currentRuntime } from "./self_command.ts";
import { CliError } from "./io.ts";

/** What a pid names now: our router, nothing (exited), or another program (the pid was reused). */
export type ProcessState = "bitrouter" | "gone" | "other";

/** What identifies this bitrouter's router in a command line. */
export interface SelfPaths {
  /** This program: the compiled binary, or Deno. */
  execPath: string;
  /** Under Deno, the main.ts Deno runs; undefined for the compiled binary. */
  mainPath?: string;
}

/** This process's SelfPaths. */
export function selfPaths(): SelfPaths {
  const runtime = currentRuntime();
  return {
    execPath: runtime.execPath,
    mainPath: runtime.standalone ? undefined : fileURLToPath(runtime.mainUrl),
  };
}

/**
 * True when a command line (its arguments joined by spaces, as `ps` prints them) is a
 * bitrouter's `serve`: this binary (renamed or not) or another named bitrouter, or — under
 * Deno — Deno running this install's main.ts; never any other program's `serve` (`deno serve`).
 * Paths may hold spaces.
 */
export function isBitrouterCommand(command: string, self: SelfPaths): boolean {
  const at = command.search(/ serve(?= |$)/);
  if (at < 0) return false;
  // What runs `serve`: the binary, or `deno run … main.ts`.
  const program = command.slice(0, at);
  if (self.mainPath !== undefined) {
    if (program.endsWith(` ${self.mainPath}`)) return true;
  } else if (program === self.execPath) return true;
  return /bitrouter[^/\\]*$/i.test(program);
}

/**
 * What `pid` is now, from `ps` (Linux, macOS, the BSDs), else from /proc read by `cat` (Deno
 * itself may read /proc only with --allow-all), else from signal 0, which only says the pid is in
 * use. A zombie counts as gone: in a container whose init does not reap, an exited router stays
 * one.
 */
export async function processState(pid: number): Promise<ProcessState> {
  const self = selfPaths();
  const ps = await output("ps", ["-o", "stat=", "-o", "args=", "-p", String(pid)]);
  // A `ps` that does not take these options (BusyBox's, on Alpine) says so on stderr, where
  // procps and the BSDs say nothing for a pid that is gone: then /proc is asked instead.
  if (ps && (ps.ok || ps.err.trim() === "")) {
    const line = ps.out.trim();
    if (!ps.ok || line === "") return "gone";
    const state = line.split(/\s/, 1)[0];
    if (state.startsWith("Z")) return "gone";
    const command = line.slice(state.length).trim();
    return isBitrouterCommand(command, self) ? "bitrouter" : "other";
  }
  const proc = await output("/bin/sh", [
    "-c",
    'test -d /proc/self || exit 3; cat "/proc/$1/stat" || exit 4; echo; cat "/proc/$1/cmdline"',
    "sh",
    String(pid),
  ]);
  if (proc && proc.code === 4) return "gone";
  if (proc && proc.ok) {
    const newline = proc.out.indexOf("\n");
    const stat = proc.out.slice(0, newline);
    // `pid (comm) S ...`: the state follows the last ")", since comm may hold anything.
    const state = stat.charAt(stat.lastIndexOf(")") + 2);
    if (state === "Z" || state === "X") return "gone";
    const args = proc.out.slice(newline + 1).split("\0").filter((a) => a !== "");
    // An unreadable command line (another user's process under hidepid) is taken at its word.
    if (args.length === 0) return "bitrouter";
    return isBitrouterCommand(args.join(" "), self) ? "bitrouter" : "other";
  }
  try {
    Deno.kill(pid, 0 as unknown as Deno.Signal);
    return "bitrouter";
  } catch (e) {
    return e instanceof Deno.errors.NotFound ? "gone" : "bitrouter";
  }
}

/** A program's exit status and stdout; undefined when it is not installed. */
async function output(
  program: string,
  args: string[],
): Promise<{ ok: boolean; code: number; out: string; err: string } | undefined> {
  try {
    const r = await new Deno.Command(program, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    return {
      ok: r.success,
      code: r.code,
      out: text.decode(r.stdout),
      err: text.decode(r.stderr),
    };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Throws a CliError when this platform or this build cannot run a router in the background. */
export function requireBackgroundSupport(command: string): void {
  if (Deno.build.os === "windows") {
    throw new CliError(
      `\`bitrouter ${command}\` is not supported on Windows yet`,
      "run `bitrouter serve` in a terminal, or as a service with a tool such as NSSM or Task Scheduler",
    );
  }
  if (Deno.permissions.querySync({ name: "run" }).state !== "granted") {
    throw new CliError(
      `\`bitrouter ${command}\` needs permission to run and signal processes`,
      Deno.build.standalone
        ? "this binary was built without --allow-run; rebuild it with `deno task compile`"
        : "run it with --allow-run, e.g. `deno task bitrouter " + command + "`",
    );
  }
}

/** Sends a signal; false when the process is already gone. */
export function signal(pid: number, sig: Deno.Signal): boolean {
  try {
    Deno.kill(pid, sig);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new CliError(
        `cannot signal bitrouter (pid ${pid}): permission denied`,
        "it runs as another user; stop it as that user",
      );
    }
    throw e;
  }
}

/** Resolves true once `pid` is no longer a bitrouter, false if it still is after `ms`. */
export async function waitForExit(pid: number, ms: number, pollMs = 100): Promise<boolean> {
  const deadline = performance.now() + ms;
  for (;;) {
    if (await processState(pid) !== "bitrouter") return true;
    if (performance.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
