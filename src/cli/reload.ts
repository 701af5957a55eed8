import { existsSync } from "node:fs";
import { configChanges, restartNotice, summarizeChanges } from "../config/changes.ts";
import { ConfigError, formatDiagnostic } from "../config/errors.ts";
import { ConfigNotFoundError, findConfig, type Found } from "../config/find.ts";
import { isLoopback } from "../config/listen.ts";
import { parseConfig, readConfigText } from "../config/load.ts";
import { type Config, LOG_LEVELS, type ServerSettings } from "../config/types.ts";
import { type FileWatch, watchFile } from "../config/watch.ts";
import type { Discovery } from "../discovery/discovery.ts";
import type { Logger } from "../observe/log.ts";
import { routableModels } from "../routing/resolve.ts";
import type { RouteTable } from "../routing/route_table.ts";
import type { Io } from "./io.ts";
import { discover, type Loaded, zeroConfigFor } from "./load.ts";

/** What started the reload, as the log says it. */
export type ReloadTrigger = "SIGHUP" | "file change";

/** What a reloader starts from: the config serving now and the discovery built over it. */
export interface ReloaderOptions {
  io: Io;
  log: Logger;
  /** The config as loaded at startup (overrides applied), and where it was found. */
  loaded: Loaded;
  /** The file's text as loaded at startup, so that a save that changed nothing is skipped. */
  text?: string;
  /** The discovery over `loaded`; the reloader owns it from now on. */
  discovery: Discovery;
  /** The command-line settings every loaded config gets, as at startup (--listen, --log-level). */
  overrides: (config: Config) => void;
  /** The host the server listens on, which a reload cannot change. */
  hostname: string;
  /** Told after each reload that was tried whether it swapped a new config in (for /metrics). */
  onReload?: (ok: boolean) => void;
}

/** The live config of a running server: reloaded on demand, with its discovery and file watch. */
export interface Reloader {
  /** The route table for the next request. */
  routes(): RouteTable;
  /** The effective config now (for the shutdown grace period, …). */
  config(): Config;
  /** Tells the current discovery a request could not reach `url`. */
  reportUnreachable(url: string, reason: string): void;
  /** Starts background discovery, and the file watch when `server.watch` is on. */
  start(): void;
  /**
   * Loads the config again and swaps it in; on failure logs why and keeps the old one. Never
   * throws. Reloads run one at a time; triggers during one are folded into one more.
   */
  reload(trigger: ReloadTrigger): Promise<void>;
  /** Stops watching and discovery, after a reload in flight; nothing is swapped in after. */
  close(): Promise<void>;
}

/** Why a config must not be served on `hostname`, or undefined (the check `serve` makes at startup). */
export function exposureProblem(hostname: string, server: ServerSettings): string | undefined {
  if (isLoopback(hostname) || !server.skipAuth || server.allowOpen) return undefined;
  return "server.skip_auth: true — anyone on the network could use your providers and keys";
}

interface Live {
  found: Found;
  text?: string;
  /** As loaded, before discovery: what the next reload is compared with. */
  loaded: Config;
  discovery: Discovery;
}

/**
 * Creates the reloader of SPEC §2.4. A reload loads and validates exactly as startup does (same
 * file; in zero-config the search runs again, so a `bitrouter init` written since is found),
 * runs the new discovery's startup round, then swaps: new requests get the new route table,
 * running ones keep theirs, and the old discovery is stopped.
 */
export function createReloader(options: ReloaderOptions): Reloader {
  const { io, log } = options;
  let live: Live = {
    found: options.loaded.found,
    text: options.text,
    loaded: options.loaded.config,
    discovery: options.discovery,
  };
  let watch: FileWatch | undefined;
  let started = false;
  let closed = false;
  let queue = Promise.resolve();
  let queued = false;

  const origin = (found: Found) => found.path ?? "zero-config";

  function updateWatch(): void {
    const path = live.found.path;
    const want = started && !closed && path !== undefined && live.loaded.server.watch;
    if (watch && (!want || watch.path !== path)) {
      const old = watch;
      watch = undefined;
      old.close().catch(() => {});
      log.info(`no longer watching ${old.path}; SIGHUP reloads it`);
    }
    if (!want || watch) return;
    try {
      const opened: FileWatch = watchFile(path, () => void reload("file change"), {
        onError: (e) => {
          if (watch === opened) watch = undefined;
          log.warn(`stopped watching ${path}: ${(e as Error).message ?? e}; SIGHUP still reloads`);
        },
      });
      watch = opened;
      log.debug(`watching ${path} for changes`);
    } catch (e) {
      log.warn(`cannot watch ${path}: ${(e as Error).message ?? e}; SIGHUP still reloads`);
    }
  }

  /** Set when the last load found the file as it was: no reload was tried. */
  let unchanged = false;

  /** The config to swap in, or undefined when there is none (already logged). */
  async function load(
    trigger: ReloadTrigger,
  ): Promise<{ found: Found; text?: string; config: Config } | undefined> {
    let found = live.found;
    if (!found.path) {
      try {
        found = findConfig(undefined, { cwd: io.cwd, env: io.env, exists: (p) => existsSync(p) });
      } catch (e) {
        if (!(e instanceof ConfigNotFoundError)) throw e;
        log.error(
          `reload (${trigger}) failed: ${e.message}; still serving the previous config`,
        );
        return undefined;
      }
    }
    if (!found.path) return { found, config: zeroConfigFor(io.env) };
    try {
      const text = await readConfigText(found.path);
      if (trigger === "file change" && text === live.text && found.path === live.found.path) {
        log.debug(`${found.path} was touched but its content is unchanged; not reloading`);
        unchanged = true;
        return undefined;
      }
      return { found, text, config: parseConfig(text, found.path, { env: io.env }) };
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const errors = e.diagnostics.filter((d) => d.severity === "error");
      log.error(
        `reload (${trigger}) failed: ${found.path} has ${errors.length} error(s); still serving the previous config`,
      );
      for (const d of e.diagnostics) log.error(`${d.severity}: ${formatDiagnostic(d)}`);
      return undefined;
    }
  }

  async function reloadOnce(trigger: ReloadTrigger): Promise<void> {
    const next = await load(trigger);
    if (!next || closed) return;
    const { config } = next;
    options.overrides(config);
    const exposed = exposureProblem(options.hostname, config.server);
    if (exposed) {
      log.error(
        `reload (${trigger}) refused: listening on ${options.hostname} with ${exposed}; still serving the previous config (set server.skip_auth: false with server.api_keys, or server.allow_open: true)`,
      );
      return;
    }
    for (const w of config.warnings) log.warn(`warning: ${formatDiagnostic(w)}`);
    let discovery: Discovery;
    try {
      ({ discovery } = await discover({ config, found: next.found }, io, log));
    } catch (e) {
      log.error(
        `reload (${trigger}) failed: ${(e as Error).message}; still serving the previous config`,
      );
      return;
    }
    if (closed) {
      await discovery.stop();
      return;
    }
    const before = live;
    const routableBefore = routableModels(before.discovery.routes()).size;
    live = { found: next.found, text: next.text, loaded: config, discovery };
    // From here new requests get the new table; running ones keep the one they started with.
    // The level changes after the summary when it gets quieter, so the reload is still logged.
    const quieter = LOG_LEVELS.indexOf(config.server.logLevel) < LOG_LEVELS.indexOf(log.level);
    if (!quieter) log.setLevel(config.server.logLevel);
    await before.discovery.stop();
    if (started) discovery.start();
    updateWatch();

    const changes = configChanges(before.loaded, config);
    const effective = discovery.config();
    const active = effective.providers.filter((p) => !p.inactiveReason && !p.downReason).length;
    const where = next.found.path === before.found.path
      ? origin(next.found)
      : `${origin(next.found)} (was ${origin(before.found)})`;
    log.info(
      `reloaded ${where} on ${trigger}: ${
        summarizeChanges(changes, {
          providers: effective.providers.length,
          virtualModels: effective.virtualModels.length,
          routable: routableModels(discovery.routes()).size,
          routableBefore,
        })
      }; ${active} of ${effective.providers.length} providers active`,
    );
    const notice = restartNotice(changes);
    if (notice) log.warn(notice);
    if (quieter) log.setLevel(config.server.logLevel);
  }

  function reload(trigger: ReloadTrigger): Promise<void> {
    // One waiting reload is enough: it reads the file when its turn comes.
    if (queued || closed) return queue;
    queued = true;
    queue = queue.then(async () => {
      queued = false;
      const before = live;
      unchanged = false;
      try {
        await reloadOnce(trigger);
      } catch (e) {
        log.error(`reload (${trigger}) failed unexpectedly; still serving the previous config`, {
          error: String(e),
        });
      }
      if (!closed && !unchanged) options.onReload?.(live !== before);
    });
    return queue;
  }

  return {
    routes: () => live.discovery.routes(),
    config: () => live.discovery.config(),
    reportUnreachable: (url, reason) => live.discovery.reportUnreachable(url, reason),
    start() {
      if (started || closed) return;
      started = true;
      live.discovery.start();
      updateWatch();
    },
    reload,
    async close() {
      if (closed) return;
      closed = true;
      const w = watch;
      watch = undefined;
      await Promise.all([w?.close(), queue]);
      await live.discovery.stop();
    },
  };
}
