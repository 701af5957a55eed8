import { configCommand } from "./src/cli/config_validate.ts";
import { initCommand } from "./src/cli/init.ts";
import { CliError, type Io, UsageError } from "./src/cli/io.ts";
import { logsCommand } from "./src/cli/logs.ts";
import { modelsCommand } from "./src/cli/models.ts";
import { providersCommand } from "./src/cli/providers.ts";
import { restartCommand } from "./src/cli/restart.ts";
import { routeCommand } from "./src/cli/route.ts";
import { serveCommand } from "./src/cli/serve.ts";
import { startCommand } from "./src/cli/start.ts";
import { statusCommand } from "./src/cli/status.ts";
import { stopCommand } from "./src/cli/stop.ts";
import { usageCommand } from "./src/cli/usage.ts";
import { versionCommand } from "./src/cli/version.ts";
import { userCwd } from "./src/config/find.ts";

const USAGE = `Usage: bitrouter [COMMAND] [OPTIONS]

One OpenAI-compatible endpoint (http://127.0.0.1:4356/v1) for every model server you run.

Commands:
  serve              start the router in the foreground (the default)
  start              start it in the background (pid and log beside the config)
  stop               stop the background router (drains running requests first)
  restart            stop, then start
  logs [-f]          the background router's log
  status             what the running router is doing (its dashboard at / shows the same)
  init               write a commented starter bitrouter.yaml
  route MODEL        show the candidates MODEL resolves to
  models             list the models routable now
  providers          list providers and whether each is active
  config validate    check the config file
  usage              requests, tokens and cost from the usage store; what local saved

Options:
  -c, --config PATH  config file, for every command that reads one
      --json         one JSON document on stdout instead of text
      --version      version, Deno version and build target
  -h, --help         this help; \`bitrouter COMMAND --help\` for a command's own`;

const COMMANDS: Record<string, (argv: string[], io: Io) => Promise<number>> = {
  serve: serveCommand,
  start: startCommand,
  stop: stopCommand,
  restart: restartCommand,
  logs: logsCommand,
  status: statusCommand,
  init: initCommand,
  route: routeCommand,
  models: modelsCommand,
  providers: providersCommand,
  config: configCommand,
  usage: usageCommand,
};

/** Runs the CLI and returns its exit code. */
export async function main(args: string[], io: Io): Promise<number> {
  const [first, ...rest] = args;
  try {
    if (first === "--version" || first === "-V") return versionCommand(rest.includes("--json"), io);
    if (first === "--help" || first === "-h" || first === "help") {
      io.out(USAGE);
      return 0;
    }
    if (first === undefined || first.startsWith("-")) {
      return await serveCommand(args, io);
    }
    const command = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
    if (!command) throw new UsageError(`unknown command "${first}"`, USAGE);
    return await command(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`error: ${e.message}\n\n${e.usage}`);
      return 2;
    }
    if (e instanceof CliError) {
      io.err(`error: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) {
  const encoder = new TextEncoder();
  const writeAll = (w: typeof Deno.stdout, line: string) => {
    const bytes = encoder.encode(line + "\n");
    for (let n = 0; n < bytes.length;) n += w.writeSync(bytes.subarray(n));
  };
  const io: Io = {
    out: (line) => writeAll(Deno.stdout, line),
    err: (line) => writeAll(Deno.stderr, line),
    env: (name) => Deno.env.get(name),
    cwd: userCwd((name) => Deno.env.get(name), Deno.cwd()),
    fetch: globalThis.fetch,
  };
  Deno.exit(await main(Deno.args, io));
}
