import { join, resolve } from "node:path";

/** What the caller's environment looks like, so discovery can be tested without touching it. */
export interface FindEnv {
  /** The folder the user ran the command from. */
  cwd: string;
  env: (name: string) => string | undefined;
  exists: (path: string) => boolean;
}

/** The config file to load, or `undefined` for zero-config. */
export interface Found {
  path?: string;
  /** Why this file (or none) was chosen, for the ready line and `--json` output. */
  source: "flag" | "cwd" | "BITROUTER_HOME" | "home" | "zero-config";
}

/** Raised when a config location was named explicitly but holds no file. */
export class ConfigNotFoundError extends Error {
  constructor(readonly path: string, readonly why: string) {
    super(`config file ${path} does not exist (${why})`);
    this.name = "ConfigNotFoundError";
  }
}

/** Finds the config per SPEC §2.1: -c → ./bitrouter.yaml → $BITROUTER_HOME → ~/.bitrouter → none. */
export function findConfig(explicit: string | undefined, fe: FindEnv): Found {
  if (explicit !== undefined) {
    const path = resolve(fe.cwd, explicit);
    if (!fe.exists(path)) {
      throw new ConfigNotFoundError(
        path,
        "named by -c; create it with `bitrouter init -c " +
          explicit + "` or fix the path",
      );
    }
    return { path, source: "flag" };
  }
  const local = join(fe.cwd, "bitrouter.yaml");
  if (fe.exists(local)) return { path: local, source: "cwd" };
  const home = fe.env("BITROUTER_HOME");
  if (home) {
    const path = join(resolve(fe.cwd, home), "bitrouter.yaml");
    if (!fe.exists(path)) {
      throw new ConfigNotFoundError(
        path,
        "BITROUTER_HOME is set; create the file with `bitrouter init -c " + path +
          "` or unset BITROUTER_HOME",
      );
    }
    return { path, source: "BITROUTER_HOME" };
  }
  const userHome = fe.env("HOME") ?? fe.env("USERPROFILE");
  if (userHome) {
    const path = join(userHome, ".bitrouter", "bitrouter.yaml");
    if (fe.exists(path)) return { path, source: "home" };
  }
  return { source: "zero-config" };
}

/** The folder the user ran the command from: `deno task` runs in the project folder and keeps the caller's in INIT_CWD. */
export function userCwd(env: (name: string) => string | undefined, cwd: string): string {
  return env("INIT_CWD") || cwd;
}
