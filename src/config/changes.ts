import { formatListen } from "./listen.ts";
import type { Config, Provider, VirtualModel } from "./types.ts";

/** Ids that appeared, left, or stayed with a different definition. */
export interface IdChanges {
  added: string[];
  removed: string[];
  changed: string[];
}

/** A setting the file changed that the running process cannot take on without a restart. */
export interface RestartNeeded {
  /** Key path in the file, e.g. `server.listen`. */
  key: string;
  /** What the process runs with. */
  running: string;
  /** What the file now says. */
  wanted: string;
}

/** What a reload changes, between two loaded configs (SPEC §2.4). */
export interface ConfigChanges {
  providers: IdChanges;
  /** Virtual models (`models:`). */
  models: IdChanges;
  /** Other settings that changed and apply at once, by key path (`server.log_level`, `health`). */
  settings: string[];
  /** Settings that changed but apply only at startup. */
  restartNeeded: RestartNeeded[];
}

/** What changed from `before` to `after` (both as loaded, before discovery adds to them). */
export function configChanges(before: Config, after: Config): ConfigChanges {
  const b = before.server;
  const a = after.server;
  const settings: string[] = [];
  const note = (key: string, x: unknown, y: unknown) => {
    if (!same(x, y)) settings.push(key);
  };
  note("server.skip_auth", b.skipAuth, a.skipAuth);
  // Named, never shown: the keys are secrets.
  note("server.api_keys", b.apiKeys, a.apiKeys);
  note("server.allow_open", b.allowOpen, a.allowOpen);
  note("server.log_level", b.logLevel, a.logLevel);
  note("server.max_body_mb", b.maxBodyBytes, a.maxBodyBytes);
  note("server.shutdown_grace_secs", b.shutdownGraceSecs, a.shutdownGraceSecs);
  note("server.watch", b.watch, a.watch);
  note("server.allowed_hosts", b.allowedHosts, a.allowedHosts);
  note("server.cors_origins", b.corsOrigins, a.corsOrigins);
  note("upstream.timeouts", before.upstreamTimeouts, after.upstreamTimeouts);
  note(
    "upstream.max_response_mb",
    before.upstreamLimits.maxResponseBytes,
    after.upstreamLimits.maxResponseBytes,
  );
  note(
    "upstream.max_event_mb",
    before.upstreamLimits.maxEventBytes,
    after.upstreamLimits.maxEventBytes,
  );
  note("health", before.health, after.health);
  note("discovery", before.discovery, after.discovery);

  // Only the listen address is fixed at startup. Everything else is read per request, per
  // stream or at shutdown, or (discovery) by the new discovery a reload starts.
  const restartNeeded: RestartNeeded[] = [];
  const running = formatListen(b);
  const wanted = formatListen(a);
  if (running !== wanted) restartNeeded.push({ key: "server.listen", running, wanted });

  return {
    providers: idChanges(before.providers, after.providers, (p) => p.id, providerShape),
    models: idChanges(before.virtualModels, after.virtualModels, (m) => m.name, modelShape),
    settings,
    restartNeeded,
  };
}

/** True when a reload would change nothing at all. */
export function isUnchanged(c: ConfigChanges): boolean {
  return c.providers.added.length + c.providers.removed.length + c.providers.changed.length +
      c.models.added.length + c.models.removed.length + c.models.changed.length +
      c.settings.length + c.restartNeeded.length === 0;
}

/** The counts a summary states beside the changes. */
export interface ReloadCounts {
  providers: number;
  virtualModels: number;
  routable: number;
  routableBefore: number;
}

/**
 * One line saying what a reload changed, e.g.
 * `3 providers (+vllm, -lmstudio, ~ollama), 2 virtual models, 7 models routable (was 5); changed: health`.
 */
export function summarizeChanges(c: ConfigChanges, n: ReloadCounts): string {
  const parts = [
    `${plural(n.providers, "provider")}${delta(c.providers)}`,
    `${plural(n.virtualModels, "virtual model")}${delta(c.models)}`,
    `${plural(n.routable, "model")} routable${
      n.routable === n.routableBefore ? "" : ` (was ${n.routableBefore})`
    }`,
  ];
  let line = parts.join(", ");
  if (c.settings.length) line += `; changed: ${c.settings.join(", ")}`;
  if (isUnchanged(c) && n.routable === n.routableBefore) line += "; nothing changed";
  return line;
}

/** The restart-only settings of `c` as one sentence, or undefined when there are none. */
export function restartNotice(c: ConfigChanges): string | undefined {
  if (c.restartNeeded.length === 0) return undefined;
  const what = c.restartNeeded.map((r) => `${r.key} is now ${r.wanted} (running: ${r.running})`);
  return `${
    what.join("; ")
  } — only applies at startup; restart bitrouter to apply it (everything else was applied)`;
}

function idChanges<T>(
  before: T[],
  after: T[],
  idOf: (x: T) => string,
  shape: (x: T) => unknown,
): IdChanges {
  const old = new Map(before.map((x) => [idOf(x), x]));
  const now = new Map(after.map((x) => [idOf(x), x]));
  return {
    added: [...now.keys()].filter((id) => !old.has(id)),
    removed: [...old.keys()].filter((id) => !now.has(id)),
    changed: [...now].filter(([id, x]) => old.has(id) && !same(shape(old.get(id)!), shape(x)))
      .map(([id]) => id),
  };
}

/** What defines a provider as written; discovery's state and the position in the file aside. */
function providerShape(p: Provider): unknown {
  const { order: _order, downReason: _down, loaded: _loaded, kind: _kind, ...rest } = p;
  return rest;
}

function modelShape(m: VirtualModel): unknown {
  return m;
}

function same(x: unknown, y: unknown): boolean {
  return JSON.stringify(x) === JSON.stringify(y);
}

/** ` (+a, -b, ~c)` naming a few of the ids, or nothing. */
function delta(c: IdChanges): string {
  const named = [
    ...c.added.map((id) => `+${id}`),
    ...c.removed.map((id) => `-${id}`),
    ...c.changed.map((id) => `~${id}`),
  ];
  if (named.length === 0) return "";
  const shown = named.slice(0, 6);
  const more = named.length > shown.length ? `, and ${named.length - shown.length} more` : "";
  return ` (${shown.join(", ")}${more})`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
