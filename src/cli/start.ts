import { parseListen } from "../config/listen.ts";
import { LOG_LEVELS } from "../config/types.ts";
import { parseCommand } from "./args.ts";
import {
  type DaemonFiles,
  findDaemonFiles,
  lastLines,
  readFrom,
  readPidFile,
  removePidFile,
  withStartLock,
  writePidFile,
} from "./daemon_files.ts";
import { processState, requireBackgroundSupport, signal } from "./daemon_process.ts";
import { CliError, type Io, UsageError } from "./io.ts";
import { selfCommand } from "./self_command.ts";

/** The options `start` and `restart` take, as their usage lists them. */
export const START_OPTIONS_HELP = `Options:
  -c, --config PATH        config file (default: ./bitrouter.yaml, $BITROUTER_HOME, ~/.bitrouter)
      --listen HOST:PORT   listen address, overrides server.listen
      --log-level LEVEL    error | warn | info | debug (overrides server.log_level)
      --log-format FORMAT  pretty | json (default pretty)
  -h, --help               show this help`;

/** Usage of `bitrouter start`. */
export const START_USAGE = `Usage: bitrouter start [OPTIONS]

Start the router in the background: it runs \`bitrouter serve\` detached, waits until it is
ready and prints its ready line. The pid file (bitrouter.pid) and the log (bitrouter.log) are
kept beside the config file, or in ~/.bitrouter/ (or $BITROUTER_HOME) without one. Refuses
to start a second router for the same config. Not available on Windows (use \`serve\`).

${START_OPTIONS_HELP}`;

/** The options of `start` (and `restart`): `serve`'s, passed through to it. */
export const START_OPTIONS = {
  config: { type: "string", short: "c" },
  listen: { type: "string" },
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** `start`'s parsed options. */
export interface StartOptions {
  config?: string;
  /** `--listen`, `--log-level`, `--log-format` as given, for `serve` */
  serveArgs: string[];
}

/** How long a router may take to print its ready line (discovery and the usage store included). */
export const READY_TIMEOUT_MS = 30_000;

/** The ready line `serve` prints, and the URL in it. */
const READY_LINE = /^bitrouter ready on (\S+?)\/v1\b.*$/m;

/**
 * Parses the arguments of `start` or `restart` (`command`), checking them the way `serve` would so
 * a misuse exits 2 here, not in the log; undefined when `--help` was printed.
 */
export function parseStartArgs(
  argv: string[],
  command: string,
  usage: string,
  io: Io,
): StartOptions | undefined {
  const { values, positionals } = parseCommand(argv, START_OPTIONS, usage);
  if (values.help) {
    io.out(usage);
    return undefined;
  }
  if (positionals.length > 0) {
    throw new UsageError(`${command} takes no arguments, got "${positionals[0]}"`, usage);
  }
  requireBackgroundSupport(command);
  return startOptions(values, usage);
}

/** `start`'s options from parsed values. */
function startOptions(
  values: { [K in keyof typeof START_OPTIONS]?: string | boolean },
  usage: string,
): StartOptions {
  const serveArgs: string[] = [];
  const listen = values.listen as string | undefined;
  if (listen !== undefined) {
    if (!parseListen(listen)) {
      throw new UsageError(`--listen expects HOST:PORT, got "${listen}"`, usage);
    }
    serveArgs.push("--listen", listen);
  }
  const level = values["log-level"] as string | undefined;
  if (level !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(level)) {
      throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`, usage);
    }
    serveArgs.push("--log-level", level);
  }
  const format = values["log-format"] as string | undefined;
  if (format !== undefined) {
    if (format !== "pretty" && format !== "json") {
      throw new UsageError("--log-format must be pretty or json", usage);
    }
    serveArgs.push("--log-format", format);
  }
  return { config: values.config as string | undefined, serveArgs };
}

/** `bitrouter start`. */
export async function startCommand(argv: string[], io: Io): Promise<number> {
  const options = parseStartArgs(argv, "start", START_USAGE, io);
  if (!options) return 0;
  const files = findDaemonFiles(options.config, io);
  return await withStartLock(files, isRunning, async () => {
    await refuseIfRunning(files, io);
    return await startInBackground(files, options, io);
  });
}

/** Whether a process runs as `pid` (any program: a lock's holder is a `start`, not a router). */
export async function isRunning(pid: number): Promise<boolean> {
  return await processState(pid) !== "gone";
}

/** Throws when the pid file names a running router; removes a stale one. */
export async function refuseIfRunning(files: DaemonFiles, io: Io): Promise<void> {
  const record = await readPidFile(files.pid);
  if (!record) return;
  const state = await processState(record.pid);
  if (state === "bitrouter") {
    throw new CliError(
      `bitrouter is already running (pid ${record.pid}, ${
        record.url ?? "still starting"
      }); stop it with \`${stopCommandFor(files)}\``,
    );
  }
  await removePidFile(files.pid, record.pid);
  io.err(
    `note: removed the stale pid file ${files.pid} (pid ${record.pid} ${
      state === "gone" ? "has exited" : "is now another program"
    })`,
  );
}

/**
 * Runs `serve` detached with its output appended to the log; resolves once its ready line is
 * there (printing it), or throws with the log's last lines when it exits or times out first.
 */
export async function startInBackground(
  files: DaemonFiles,
  options: StartOptions,
  io: Io,
  readyTimeoutMs = READY_TIMEOUT_MS,
): Promise<number> {
  const logStart = await openLog(files);
  const child = spawnServe(files, options, io.cwd);
  const pid = child.pid;
  try {
    await writePidFile(files.pid, { pid });
  } catch (e) {
    signal(pid, "SIGKILL");
    throw e;
  }
  const ready = await readyLine(files.log, logStart, child, readyTimeoutMs);
  if (typeof ready !== "string") {
    const tail = lastLines(await readFrom(files.log, logStart), 20);
    if (!ready.exited) signal(pid, "SIGKILL");
    await removePidFile(files.pid, pid);
    for (const l of tail) io.err(l);
    throw new CliError(
      ready.exited
        ? `bitrouter exited (code ${ready.exited.code}) before it was ready`
        : `bitrouter was not ready after ${readyTimeoutMs / 1000}s; stopped it`,
      `its output is above; all of it is in ${files.log}`,
    );
  }
  const url = READY_LINE.exec(ready)![1];
  await writePidFile(files.pid, { pid, url });
  child.unref();
  io.out(ready);
  io.out(
    `running in the background (pid ${pid}); log ${files.log}; stop it with \`${
      stopCommandFor(files)
    }\``,
  );
  return 0;
}

/** `bitrouter stop`, with the `-c` that finds this router's pid file when it was named. */
function stopCommandFor(files: DaemonFiles): string {
  return files.found.source === "flag" ? `bitrouter stop -c ${files.found.path}` : "bitrouter stop";
}

/**
 * Makes sure the log can be appended to (an error of this command, not a silent exit of the
 * shell that opens it for the router); returns its size, where this run's output will start.
 */
async function openLog(files: DaemonFiles): Promise<number> {
  try {
    await Deno.mkdir(files.dir, { recursive: true });
    (await Deno.open(files.log, { append: true, create: true })).close();
    return (await Deno.stat(files.log)).size;
  } catch (e) {
    throw new CliError(`cannot write ${files.log}: ${(e as Error).message}`);
  }
}

/** Spawns `serve` in a session of its own, stdin from /dev/null, output appended to the log. */
function spawnServe(files: DaemonFiles, options: StartOptions, cwd: string): Deno.ChildProcess {
  const self = selfCommand([
    "serve",
    // The file found here, so the router runs with the one whose folder holds its pid file.
    ...(files.found.path ? ["-c", files.found.path] : []),
    ...options.serveArgs,
  ]);
  // Deno.Command cannot hand a file to the child as its stdout, so a shell opens the log
  // (appending) and then becomes the router (exec): the pid stays the router's own.
  return new Deno.Command("/bin/sh", {
    args: [
      "-c",
      'log=$1; shift; exec "$@" >>"$log" 2>&1 </dev/null',
      "bitrouter-start",
      files.log,
      self.program,
      ...self.args,
    ],
    cwd,
    // The user's folder, for a zero-config lookup of ./bitrouter.yaml (see userCwd).
    env: { INIT_CWD: cwd },
    // A session of its own: the router outlives this command and the terminal's hangup.
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/**
 * The ready line once it is in the log after byte `from`; or how the child exited first; or
 * `{}` when it timed out.
 */
async function readyLine(
  log: string,
  from: number,
  child: Deno.ChildProcess,
  timeoutMs: number,
): Promise<string | { exited?: Deno.CommandStatus }> {
  let exited: Deno.CommandStatus | undefined;
  child.status.then((s) => exited = s);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const m = READY_LINE.exec(await readFrom(log, from));
    if (m) return m[0];
    if (exited) return { exited };
    if (performance.now() >= deadline) return {};
    await new Promise((r) => setTimeout(r, 50));
  }
}
