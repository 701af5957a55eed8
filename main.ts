import { CliError, type Io, UsageError } from "./src/cli/io.ts";
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

type Command = (argv: string[], io: Io) => Promise<number>;

/**
 * Each command's module, loaded when it runs: `serve` then loads only what serving needs — the
 * ready line comes about 70 ms sooner (bench) and the other commands' code stays out of the
 * router's memory. Literal specifiers, so `deno compile` still embeds every one.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import("./src/cli/serve.ts")).serveCommand,
  start: async () => (await import("./src/cli/start.ts")).startCommand,
  stop: async () => (await import("./src/cli/stop.ts")).stopCommand,
  restart: async () => (await import("./src/cli/restart.ts")).restartCommand,
  logs: async () => (await import("./src/cli/logs.ts")).logsCommand,
  status: async () => (await import("./src/cli/status.ts")).statusCommand,
  init: async () => (await import("./src/cli/init.ts")).initCommand,
  route: async () => (await import("./src/cli/route.ts")).routeCommand,
  models: async () => (await import("./src/cli/models.ts")).modelsCommand,
  providers: async () => (await import("./src/cli/providers.ts")).providersCommand,
  config: async () => (await import("./src/cli/config_validate.ts")).configCommand,
  usage: async () => (await import("./src/cli/usage.ts")).usageCommand,
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
      return await (await COMMANDS.serve())(args, io);
    }
    const load = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
    if (!load) throw new UsageError(`unknown command "${first}"`, USAGE);
    return await (await load())(rest, io);
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
