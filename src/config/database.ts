import type { Config } from "./types.ts";

/** Where the usage store is, or why it cannot be used. */
export type StoreLocation =
  | { kind: "sqlite"; path: string }
  | { kind: "unsupported"; reason: string };

/**
 * The usage store's location from `database.url` (SPEC §8): `sqlite://bitrouter.db` (relative to
 * the config file's folder), `sqlite:///abs/path.db`, `sqlite::memory:`; by default
 * `bitrouter.db` beside the config file, or in zero-config `$BITROUTER_HOME/bitrouter.db`, else
 * `~/.bitrouter/bitrouter.db`. A `?mode=rwc`-style suffix (sqlx's) is ignored.
 */
export function storeLocation(
  config: Config,
  env: (name: string) => string | undefined,
): StoreLocation {
  const base = config.file ? dirnameOf(config.file) : env("BITROUTER_HOME") ??
    `${env("HOME") ?? env("USERPROFILE") ?? "."}/.bitrouter`;
  const url = config.usage?.databaseUrl;
  if (url === undefined) return { kind: "sqlite", path: `${base}/bitrouter.db` };
  if (/^postgres(ql)?:\/\//.test(url)) {
    return {
      kind: "unsupported",
      reason:
        "PostgreSQL usage stores are not supported yet; use sqlite://bitrouter.db or usage: false",
    };
  }
  const rest = url.replace(/^sqlite:/, "").replace(/\?.*$/, "");
  if (rest === ":memory:") return { kind: "sqlite", path: ":memory:" };
  const path = rest.startsWith("//") ? rest.slice(2) : rest;
  if (path === "") return { kind: "sqlite", path: `${base}/bitrouter.db` };
  const absolute = path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path);
  return { kind: "sqlite", path: absolute ? path : `${base}/${path}` };
}

function dirnameOf(file: string): string {
  const at = Math.max(file.lastIndexOf("/"), file.lastIndexOf("\\"));
  return at < 0 ? "." : at === 0 ? "/" : file.slice(0, at);
}
