import { findDaemonFiles, withStartLock } from "./daemon_files.ts";
import type { Io } from "./io.ts";
import { isRunning, parseStartArgs, START_OPTIONS_HELP, startInBackground } from "./start.ts";
import { stopRunning } from "./stop.ts";

/** Usage of `bitrouter restart`. */
export const RESTART_USAGE = `Usage: bitrouter restart [OPTIONS]

Stop the background router (as \`bitrouter stop\`: running requests get
server.shutdown_grace_secs), then start it again (as \`bitrouter start\`) with these options.
Starts it when none is running.

${START_OPTIONS_HELP}`;

/** `bitrouter restart`. */
export async function restartCommand(argv: string[], io: Io): Promise<number> {
  const options = parseStartArgs(argv, "restart", RESTART_USAGE, io);
  if (!options) return 0;
  const files = findDaemonFiles(options.config, io);
  return await withStartLock(files, isRunning, async () => {
    const stopped = await stopRunning(files, io);
    if (stopped === "no pid file") io.err("note: no bitrouter was running; starting one");
    else if (stopped !== "stopped") {
      io.err(
        `note: removed the stale pid file ${files.pid} (pid ${stopped.pid} was not running)`,
      );
    }
    return await startInBackground(files, options, io);
  });
}
