import { existsSync } from "node:fs";
import { ConfigNotFoundError, findConfig, type Found } from "../config/find.ts";
import { ConfigError, formatDiagnostic } from "../config/errors.ts";
import { loadConfigFile, zeroConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { probeLocalServers, zeroConfigProviders } from "../discovery/local_servers.ts";
import { CliError, type Io } from "./io.ts";

/** A config ready to route with, and where it came from. */
export interface Loaded {
  config: Config;
  found: Found;
}

/** Finds and loads the config (or builds the zero-config one); prints warnings; throws CliError on failure. */
export async function loadForCli(explicit: string | undefined, io: Io): Promise<Loaded> {
  let found: Found;
  try {
    found = findConfig(explicit, { cwd: io.cwd, env: io.env, exists: (p) => existsSync(p) });
  } catch (e) {
    if (e instanceof ConfigNotFoundError) {
      throw new CliError(`config file ${e.path} does not exist`, e.why);
    }
    throw e;
  }
  if (!found.path) {
    const config = zeroConfig();
    config.providers = zeroConfigProviders(await probeLocalServers(io.fetch), io.env);
    return { config, found };
  }
  try {
    const config = await loadConfigFile(found.path, { env: io.env });
    for (const w of config.warnings) io.err(`warning: ${formatDiagnostic(w)}`);
    return { config, found };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new CliError(e.message, "run `bitrouter config validate` to see every problem");
  }
}
