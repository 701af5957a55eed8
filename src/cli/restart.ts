import { parseCommand } from "./args.ts";
import { findDaemonFiles } from "./daemon_files.ts";
import { requireBackgroundSupport } from "./daemon_process.ts";
import { type Io, UsageError } from "./io.ts";
import { START_OPTIONS, startInBackground, startOptions } from "./start.ts";
import { stopRunning } from "./stop.ts";

/** Usage of `bitrouter restart`. */
export const RESTART_USAGE = `Usage: bitrouter restart [OPTIONS]

Stop the background router (as \`bitrouter stop\`: running requests get
server.shutdown_grace_secs), then start it again (as \`bitrouter start\`) with these options.
Starts it when none is running.

Options:
  -c, --config PATH        config file (default: ./bitrouter.yaml, $BITROUTER_HOME, ~/.bitrouter)
      --listen HOST:PORT   listen address, overrides server.listen
      --log-level LEVEL    error | warn | info | debug (overrides server.log_level)
      --log-format FORMAT  pretty | json (default pretty)
  -h, --help               show this help`;

/** `bitrouter restart`. */
export async function restartCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, START_OPTIONS, RESTART_USAGE);
  if (values.help) {
    io.out(RESTART_USAGE);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(`restart takes no arguments, got "${positionals[0]}"`, RESTART_USAGE);
  }
  const options = startOptions(values, RESTART_USAGE);
  requireBackgroundSupport("restart");
  const files = findDaemonFiles(options.config, io);
  const stopped = await stopRunning(files, io);
  if (stopped === "no pid file") io.err("note: no bitrouter was running; starting one");
  else if (stopped !== "stopped") {
    io.err(`note: removed the stale pid file ${files.pid} (pid ${stopped.pid} was not running)`);
  }
  return await startInBackground(files, options, io);
}
