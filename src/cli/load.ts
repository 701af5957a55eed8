import { existsSync } from "node:fs";
import { ConfigNotFoundError, findConfig, type Found } from "../config/find.ts";
import { ConfigError, formatDiagnostic } from "../config/errors.ts";
import { parseConfig, readConfigText, zeroConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import type { Logger } from "../observe/log.ts";
import { createDiscovery, type Discovery } from "../discovery/discovery.ts";
import { DEFAULT_TARGETS, parseDiscoveryEnv } from "../discovery/targets.ts";
import { hostedBuiltIns } from "../discovery/zero_config.ts";
import { CliError, type Io } from "./io.ts";

/** A config ready to route with, and where it came from. */
export interface Loaded {
  config: Config;
  found: Found;
  /** The file's text as loaded (undefined in zero-config), so a reload can tell a real change. */
  text?: string;
}

/** A config with what discovery found at startup, and the discovery that keeps it live. */
export interface Discovered extends Loaded {
  discovery: Discovery;
}

/** How long the startup probe round may take (SPEC §7: never more than a second). */
export const STARTUP_PROBE_MS = 900;

/** Where the config is, as every command looks for it (SPEC §2.1); a CliError for a missing `-c` file. */
export function findForCli(explicit: string | undefined, io: Io): Found {
  try {
    return findConfig(explicit, { cwd: io.cwd, env: io.env, exists: (p) => existsSync(p) });
  } catch (e) {
    if (e instanceof ConfigNotFoundError) {
      throw new CliError(`config file ${e.path} does not exist`, e.why);
    }
    throw e;
  }
}

/** Finds and loads the config (or builds the zero-config one); prints warnings; throws CliError on failure. */
export async function loadForCli(explicit: string | undefined, io: Io): Promise<Loaded> {
  const found = findForCli(explicit, io);
  if (!found.path) return { config: zeroConfigFor(io.env), found };
  try {
    const text = await readConfigText(found.path);
    const config = parseConfig(text, found.path, { env: io.env });
    for (const w of config.warnings) io.err(`warning: ${formatDiagnostic(w)}`);
    return { config, found, text };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new CliError(e.message, "run `bitrouter config validate` to see every problem");
  }
}

/** The zero-config config (SPEC §7): defaults, and each built-in hosted provider whose key is set. */
export function zeroConfigFor(env: (name: string) => string | undefined): Config {
  const config = zeroConfig();
  config.providers = hostedBuiltIns(env);
  return config;
}

/**
 * The discovery targets and whether to probe at all: `BITROUTER_DISCOVERY` (`off` or
 * `host:port,...`) over `discovery.targets`, over the four local ports in zero-config.
 */
export function discoveryTargets(config: Config, io: Io): { targets: string[]; off: boolean } {
  const env = io.env("BITROUTER_DISCOVERY");
  if (env !== undefined && env.trim() !== "") {
    const parsed = parseDiscoveryEnv(env);
    if (typeof parsed === "string") {
      throw new CliError(
        `BITROUTER_DISCOVERY: expected host:port,... or off, got "${parsed}"`,
        "e.g. BITROUTER_DISCOVERY=127.0.0.1:11434,gpu-box:8000",
      );
    }
    return parsed.off ? { targets: [], off: true } : { targets: parsed.targets, off: false };
  }
  const fallback = config.file === undefined ? [...DEFAULT_TARGETS] : [];
  return { targets: config.discovery.targets ?? fallback, off: false };
}

/** Creates discovery over a loaded config and runs its startup round (at most ~1 s). */
export async function discover(
  loaded: Loaded,
  io: Io,
  log?: Logger,
): Promise<Discovered> {
  const { targets, off } = discoveryTargets(loaded.config, io);
  const discovery = createDiscovery({
    config: loaded.config,
    targets,
    background: loaded.config.discovery.enabled && !off,
    fetch: io.fetch,
    log,
  });
  if (!off) await discovery.runRound({ timeoutMs: STARTUP_PROBE_MS });
  return { config: discovery.config(), found: loaded.found, discovery };
}

/** loadForCli, then one discovery round: what `models`, `route` and `providers` show. */
export async function loadDiscovered(explicit: string | undefined, io: Io): Promise<Discovered> {
  return await discover(await loadForCli(explicit, io), io);
}
