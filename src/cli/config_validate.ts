import { existsSync } from "node:fs";
import { ConfigNotFoundError, findConfig } from "../config/find.ts";
import { ConfigError, type Diagnostic, formatDiagnostic } from "../config/errors.ts";
import { loadConfigFile } from "../config/load.ts";
import { CONFIG_OPTIONS, parseCommand } from "./args.ts";
import { CliError, type Io, UsageError } from "./io.ts";

/** Usage of `bitrouter config`. */
export const CONFIG_USAGE = `Usage: bitrouter config validate [OPTIONS]

Load and validate the config: print "valid", or each problem as file:line:column.
Exits 0 when valid (warnings allowed), 1 otherwise. Unset \${VAR}s are warnings here.

Options:
  -c, --config PATH   config file
      --json          print {"valid", "file", "problems": [...]}
  -h, --help          show this help`;

/** `bitrouter config validate`. */
export async function configCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, CONFIG_OPTIONS, CONFIG_USAGE);
  if (values.help) {
    io.out(CONFIG_USAGE);
    return 0;
  }
  if (positionals[0] !== "validate" || positionals.length > 1) {
    throw new UsageError(
      positionals.length ? `unknown subcommand "${positionals.join(" ")}"` : "missing subcommand",
      CONFIG_USAGE,
    );
  }
  let file: string | undefined;
  try {
    file = findConfig(values.config, {
      cwd: io.cwd,
      env: io.env,
      exists: (p) => existsSync(p),
    }).path;
  } catch (e) {
    if (e instanceof ConfigNotFoundError) {
      throw new CliError(`config file ${e.path} does not exist`, e.why);
    }
    throw e;
  }
  if (!file) {
    throw new CliError(
      "no config file found (./bitrouter.yaml, $BITROUTER_HOME, ~/.bitrouter)",
      "create one with `bitrouter init`, or name it with -c PATH",
    );
  }
  let problems: Diagnostic[];
  let valid = true;
  try {
    problems = (await loadConfigFile(file, { env: io.env, lenientEnv: true })).warnings;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems = e.diagnostics;
    valid = false;
  }
  if (values.json) {
    io.out(JSON.stringify({
      valid,
      file,
      problems: problems.map((p) => ({
        severity: p.severity,
        file: p.location?.file ?? file,
        line: p.location?.line ?? null,
        column: p.location?.column ?? null,
        path: p.path,
        message: p.message,
      })),
    }));
  } else {
    for (const p of problems) io.out(`${p.severity}: ${formatDiagnostic(p)}`);
    io.out(
      valid
        ? `valid: ${file}`
        : `invalid: ${file} has ${problems.filter((p) => p.severity === "error").length} error(s)`,
    );
  }
  return valid ? 0 : 1;
}
