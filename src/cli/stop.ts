import { parseConfig, readConfigText } from "../config/load.ts";
import { DEFAULT_SERVER } from "../config/types.ts";
import { parseCommand } from "./args.ts";
import { type DaemonFiles, findDaemonFiles, readPidFile, removePidFile } from "./daemon_files.ts";
import { processState, requireBackgroundSupport, signal, waitForExit } from "./daemon_process.ts";
import { CliError, type Io, UsageError } from "./io.ts";

/** Usage of `bitrouter stop`. */
export const STOP_USAGE = `Usage: bitrouter stop [OPTIONS]

Stop the router \`bitrouter start\` runs in the background: no new connections at once; running
requests get server.shutdown_grace_secs to finish, then are ended with an error; if it is still
running a few seconds after that, it is killed. Removes the pid file.

Options:
  -c, --config PATH   config file (the same one \`start\` was given)
  -h, --help          show this help`;

/**
 * After the grace period, how long `serve` may take to end its streams and exit (its own flush and
 * cleanup take up to ~4 s) before it is killed.
 */
export const EXIT_MARGIN_MS = 6_000;

/** `bitrouter stop`. */
export async function stopCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    config: { type: "string", short: "c" },
    help: { type: "boolean", short: "h" },
  }, STOP_USAGE);
  if (values.help) {
    io.out(STOP_USAGE);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(`stop takes no arguments, got "${positionals[0]}"`, STOP_USAGE);
  }
  requireBackgroundSupport("stop");
  const files = findDaemonFiles(values.config, io);
  const stopped = await stopRunning(files, io);
  if (stopped === "no pid file") {
    throw new CliError("no bitrouter is running", `no pid file at ${files.pid}`);
  }
  if (stopped !== "stopped") {
    throw new CliError(
      "no bitrouter is running",
      `pid ${stopped.pid} in ${files.pid} ${
        stopped.state === "gone" ? "has exited" : "is now another program"
      }; removed the stale pid file`,
    );
  }
  return 0;
}

/** What stopRunning found: it stopped a router, there was none, or the pid file was stale. */
export type StopOutcome = "stopped" | "no pid file" | { pid: number; state: "gone" | "other" };

/**
 * Stops the router the pid file names, printing how it went: SIGTERM, then up to the grace
 * period plus EXIT_MARGIN_MS for it to exit, then SIGKILL. A stale pid file is removed.
 */
export async function stopRunning(files: DaemonFiles, io: Io): Promise<StopOutcome> {
  const record = await readPidFile(files.pid);
  if (!record) return "no pid file";
  const { pid } = record;
  const state = await processState(pid);
  if (state !== "bitrouter") {
    await removePidFile(files.pid, pid);
    return { pid, state };
  }
  const grace = await graceSecs(files, io);
  const started = performance.now();
  if (signal(pid, "SIGTERM")) {
    // Most stops take a moment; say what is being waited for only when one does not.
    let exited = await waitForExit(pid, 1_000);
    if (!exited) {
      io.err(
        `stopping bitrouter (pid ${pid}): running requests get up to ${grace}s to finish (server.shutdown_grace_secs)`,
      );
      exited = await waitForExit(pid, grace * 1000 + EXIT_MARGIN_MS);
    }
    if (!exited) {
      signal(pid, "SIGKILL");
      await waitForExit(pid, 5_000);
      await removePidFile(files.pid, pid);
      io.out(
        `killed bitrouter (pid ${pid}): still running ${seconds(started)} after SIGTERM`,
      );
      return "stopped";
    }
  }
  await removePidFile(files.pid, pid);
  io.out(`stopped bitrouter (pid ${pid}) in ${seconds(started)}`);
  return "stopped";
}

/** The config's `server.shutdown_grace_secs` as the file says now; the default without one. */
async function graceSecs(files: DaemonFiles, io: Io): Promise<number> {
  if (!files.found.path) return DEFAULT_SERVER.shutdownGraceSecs;
  try {
    const text = await readConfigText(files.found.path);
    const config = parseConfig(text, files.found.path, { env: io.env });
    return config.server.shutdownGraceSecs;
  } catch {
    // A config broken since the start: its router still runs with the old one, so wait long.
    return DEFAULT_SERVER.shutdownGraceSecs;
  }
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)}s`;
}
