import { parseCommand } from "./args.ts";
import { concat, findDaemonFiles, readBytes } from "./daemon_files.ts";
import { CliError, type Io, UsageError } from "./io.ts";

/** Usage of `bitrouter logs`. */
export const LOGS_USAGE = `Usage: bitrouter logs [OPTIONS]

Print the end of the log of the router \`bitrouter start\` runs in the background
(bitrouter.log, beside the config file or in ~/.bitrouter/). A router run by \`serve\` logs to
its own stderr instead (under systemd: journalctl -u bitrouter).

Options:
  -c, --config PATH   config file (the same one \`start\` was given)
  -n, --lines N       how many lines (default 50)
  -f, --follow        keep printing lines as they are written, until Ctrl-C
  -h, --help          show this help`;

/** How often `logs -f` looks for new lines. */
const FOLLOW_POLL_MS = 200;

/** `bitrouter logs`; `stop` ends `-f` (tests), else SIGINT/SIGTERM does. */
export async function logsCommand(argv: string[], io: Io, stop?: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    config: { type: "string", short: "c" },
    lines: { type: "string", short: "n" },
    follow: { type: "boolean", short: "f" },
    help: { type: "boolean", short: "h" },
  }, LOGS_USAGE);
  if (values.help) {
    io.out(LOGS_USAGE);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(`logs takes no arguments, got "${positionals[0]}"`, LOGS_USAGE);
  }
  const count = values.lines === undefined ? 50 : Number(values.lines);
  if (!Number.isInteger(count) || count < 0) {
    throw new UsageError(`--lines expects a whole number, got "${values.lines}"`, LOGS_USAGE);
  }
  const files = findDaemonFiles(values.config, io);
  let size: number;
  try {
    size = (await Deno.stat(files.log)).size;
  } catch {
    throw new CliError(
      `no log file at ${files.log}`,
      "`bitrouter start` writes it; a router run by `bitrouter serve` logs to its stderr",
    );
  }
  const { lines, partial, end } = await tail(files.log, count, size);
  for (const line of lines) io.out(line);
  // A last line still being written is left for `-f` to print whole.
  if (values.follow) await follow(files.log, end, io, stop ?? stopSignal());
  else if (partial !== "" && count > 0) io.out(partial);
  return 0;
}

/** The last `count` lines of the file's first `size` bytes: whole lines, a partial last one, where the whole ones end. */
async function tail(path: string, count: number, size: number) {
  // Read backwards a block at a time until enough lines are in hand.
  const blocks: Uint8Array[] = [];
  let at = size;
  let newlines = 0;
  while (at > 0 && newlines <= count) {
    const length = Math.min(64 * 1024, at);
    at -= length;
    const block = await readBytes(path, at, at + length);
    blocks.unshift(block);
    newlines += block.filter((b) => b === 10).length;
  }
  const lines = new TextDecoder().decode(concat(blocks)).split("\n");
  const partial = lines.pop() ?? "";
  const end = size - new TextEncoder().encode(partial).length;
  // With a partial last line, it is one of the `count`.
  const whole = count - (partial === "" ? 0 : 1);
  return { lines: whole <= 0 ? [] : lines.slice(-whole), partial, end };
}

/** Prints each whole line appended after byte `from` until `stop`; starts over on truncation. */
async function follow(path: string, from: number, io: Io, stop: AbortSignal): Promise<void> {
  let at = from;
  let pending = new Uint8Array(0);
  const decoder = new TextDecoder();
  while (!stop.aborted) {
    const size = await Deno.stat(path).then((s) => s.size, () => 0);
    if (size < at) {
      io.err(`note: ${path} was truncated; following from its start`);
      at = 0;
      pending = new Uint8Array(0);
    }
    if (size > at) {
      const chunk = await readBytes(path, at, size);
      at += chunk.length;
      const bytes = concat([pending, chunk]);
      const cut = bytes.lastIndexOf(10);
      if (cut >= 0) {
        for (const line of decoder.decode(bytes.subarray(0, cut)).split("\n")) io.out(line);
      }
      pending = bytes.slice(cut + 1);
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, FOLLOW_POLL_MS);
      function done() {
        clearTimeout(timer);
        stop.removeEventListener("abort", done);
        resolve();
      }
      stop.addEventListener("abort", done);
    });
  }
}

/** Aborts at the first SIGINT or SIGTERM (Ctrl-C ends `logs -f` with exit 0). */
function stopSignal(): AbortSignal {
  const controller = new AbortController();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const handler = () => {
    controller.abort();
    for (const s of signals) Deno.removeSignalListener(s, handler);
  };
  for (const s of signals) Deno.addSignalListener(s, handler);
  return controller.signal;
}
