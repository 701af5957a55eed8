import { type Config, modelsAsNamed, type Provider, type ServerKind } from "../config/types.ts";
import type { Logger } from "../observe/log.ts";
import { buildRouteTable, type RouteTable } from "../routing/route_table.ts";
import { authHeaders, listProviderModels, type ProbeOutcome, probeServer } from "./probe.ts";

/** A model server found at one of the discovery targets. */
export interface FoundServer {
  /** Provider id it is registered under (`ollama`, `llamacpp-9090`, …). */
  id: string;
  kind: ServerKind;
  /** `http://127.0.0.1:11434` */
  origin: string;
  /** origin + `/v1` */
  apiBase: string;
  models: string[];
  loaded: readonly string[] | "all";
  /** Why it is down now; undefined while it answers. */
  downReason?: string;
}

/** How discovery runs; everything the outside world is reached through is injectable. */
export interface DiscoveryOptions {
  /** The config as loaded (or the zero-config one); discovery adds to it, never changes it. */
  config: Config;
  /** Origins to probe (`http://127.0.0.1:11434`); default `config.discovery.targets ?? []`. */
  targets?: string[];
  /** Between background rounds; default `config.discovery.intervalSecs`. */
  intervalMs?: number;
  /** Whether background rounds run at all; default `config.discovery.enabled`. */
  background?: boolean;
  fetch: typeof fetch;
  log?: Logger;
  /** Wall clock for "down since" and the hosted refresh schedule; default Date.now. */
  now?: () => number;
  /** How long one background round may take; default 3000 ms. */
  roundTimeoutMs?: number;
  /** How often a hosted provider's `/models` is fetched again; default one hour. */
  hostedRefreshMs?: number;
}

/** The live view of discovery: the current route table and what it found. */
export interface Discovery {
  /** The route table for the next request (a new object after each change). */
  routes(): RouteTable;
  /** The effective config: the loaded one plus what discovery found. */
  config(): Config;
  /** Servers found at the targets, up or down, in target order. */
  servers(): FoundServer[];
  /** One probe round; true when it changed the route table. Never throws. */
  runRound(options?: { timeoutMs?: number; hosted?: boolean }): Promise<boolean>;
  /** Resolves after the next round completes (for tests and tools). */
  nextRound(): Promise<void>;
  /** Starts background rounds: one now, then every interval. No-op when background is off. */
  start(): void;
  /** Stops the rounds and any probe in flight; resolves once nothing is left running. */
  stop(): Promise<void>;
  /**
   * A request could not connect to `url` (refused, DNS, connect timeout): every provider at that
   * server is down until it answers a probe. Ignored unless background rounds are running,
   * since nothing else would bring it back.
   */
  reportUnreachable(url: string, reason: string): void;
}

interface TargetState {
  origin: string;
  id?: string;
  kind?: ServerKind;
  models: string[];
  loaded: readonly string[] | "all";
  /** Requests it runs at once, as it reports (llama.cpp `total_slots`). */
  slots?: number;
  downReason?: string;
}

interface Refreshed {
  models: string[];
  kind?: ServerKind;
  loaded: readonly string[] | "all";
  slots?: number;
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i;

/** An origin with every loopback spelling made one, so `localhost:11434` shadows `127.0.0.1:11434`. */
function sameServerKey(url: string): string {
  try {
    const u = new URL(url);
    const host = LOOPBACK.test(u.hostname) ? "loopback" : u.hostname.toLowerCase();
    return `${u.protocol}//${host}:${u.port || (u.protocol === "https:" ? "443" : "80")}`;
  } catch {
    return url;
  }
}

/**
 * True for a hosted provider (a built-in one, or any https api_base beyond loopback): its model
 * list changes rarely and costs a call to someone else's API, so it is refreshed hourly.
 */
function isHosted(provider: Provider): boolean {
  if (provider.source === "built-in") return true;
  try {
    const u = new URL(provider.apiBase);
    return u.protocol === "https:" && !LOOPBACK.test(u.hostname);
  } catch {
    return false;
  }
}

/** The origin of an api_base ending in `/v1`, where a local server's own endpoints live. */
function localOrigin(apiBase: string): string | undefined {
  return /\/v1\/?$/.test(apiBase) ? new URL(apiBase).origin : undefined;
}

/** Creates the discovery component (SPEC §7); nothing runs until runRound or start is called. */
export function createDiscovery(options: DiscoveryOptions): Discovery {
  const base = options.config;
  const fetchFn = options.fetch;
  const now = options.now ?? Date.now;
  const log = options.log;
  const intervalMs = options.intervalMs ?? base.discovery.intervalSecs * 1000;
  const background = options.background ?? base.discovery.enabled;
  const roundTimeoutMs = options.roundTimeoutMs ?? 3000;
  const hostedRefreshMs = options.hostedRefreshMs ?? 3_600_000;
  const zeroConfig = base.file === undefined;

  const shadowed = new Set(base.providers.map((p) => sameServerKey(p.apiBase)));
  const targets: TargetState[] = (options.targets ?? base.discovery.targets ?? [])
    .filter((origin) => !shadowed.has(sameServerKey(origin)))
    .map((origin) => ({ origin, models: [], loaded: [] }));
  const refreshed = new Map<string, Refreshed>();
  const down = new Map<string, string>();
  const hostedDue = new Map<string, number>();

  const stopping = new AbortController();
  let started = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<boolean> | undefined;
  let roundWaiters: (() => void)[] = [];

  let effective = compose();
  let table = buildRouteTable(effective);
  let signature = signatureOf();

  function downSince(reason: string): string {
    const at = new Date(now()).toISOString().slice(11, 19);
    const again = background
      ? `probed again every ${Math.round(intervalMs / 1000)}s`
      : "restart bitrouter once it is back";
    return `down since ${at} UTC (${reason}); ${again}`;
  }

  function allocateId(kind: ServerKind, origin: string, self: TargetState): string {
    const taken = new Set([
      ...base.providers.map((p) => p.id),
      ...targets.filter((t) => t !== self && t.id).map((t) => t.id!),
    ]);
    const u = new URL(origin);
    const name = kind === "openai" ? "local" : kind;
    const host = u.hostname.replace(/[^A-Za-z0-9]+/g, "-");
    const options = [name, `${name}-${u.port}`, `${name}-${host}-${u.port}`];
    return options.find((o) => !taken.has(o)) ?? `${name}-${taken.size}`;
  }

  function compose(): Config {
    const providers: Provider[] = base.providers.map((p) => {
      const r = refreshed.get(p.id);
      const models = r
        ? p.source === "config"
          ? [
            ...p.models,
            ...modelsAsNamed(r.models.filter((id) => !p.models.some((m) => m.id === id))),
          ]
          : modelsAsNamed(r.models)
        : p.models;
      return {
        ...p,
        models,
        kind: r?.kind ?? p.kind,
        loaded: r?.loaded ?? p.loaded,
        reportedSlots: r?.slots ?? p.reportedSlots,
        downReason: down.get(p.id),
      };
    });
    const found: Provider[] = targets.filter((t) => t.id && t.kind).map((t) => ({
      id: t.id!,
      apiBase: `${t.origin}/v1`,
      protocolRules: [],
      defaultProtocol: "chat_completions",
      models: modelsAsNamed(t.models),
      priority: 0,
      order: 0,
      headers: {},
      timeouts: { ...base.upstreamTimeouts },
      autoDiscover: true,
      source: "detected",
      kind: t.kind,
      loaded: t.loaded,
      reportedSlots: t.slots,
      downReason: t.downReason,
    }));
    // In zero-config the local servers come first: they are free and already running.
    const ordered = zeroConfig ? [...found, ...providers] : [...providers, ...found];
    return {
      ...base,
      providers: ordered.map((p, order) => ({ ...p, order })),
      discovery: { ...base.discovery, targets: targets.map((t) => t.origin) },
    };
  }

  function signatureOf(): string {
    return JSON.stringify([targets, [...refreshed], [...down]]);
  }

  function rebuildIfChanged(): boolean {
    const next = signatureOf();
    if (next === signature) return false;
    signature = next;
    effective = compose();
    table = buildRouteTable(effective);
    return true;
  }

  async function probeTarget(t: TargetState, signal: AbortSignal): Promise<void> {
    const outcome = await probeServer(fetchFn, t.origin, signal, {
      known: t.downReason ? undefined : t.kind,
    });
    if (outcome.status !== "up") {
      if (t.id && !t.downReason) {
        t.downReason = downSince(outcome.reason);
        log?.warn(`discovery: ${t.id} at ${t.origin} is down (${outcome.reason})`);
      }
      return;
    }
    const wasDown = t.downReason !== undefined;
    const isNew = !t.id || t.kind !== outcome.kind;
    if (isNew) t.id = allocateId(outcome.kind, t.origin, t);
    t.kind = outcome.kind;
    t.loaded = outcome.loaded;
    t.slots = outcome.slots;
    t.downReason = undefined;
    const modelsChanged = JSON.stringify(t.models) !== JSON.stringify(outcome.models);
    t.models = outcome.models;
    if (isNew || wasDown || modelsChanged) {
      const what = isNew ? "found" : wasDown ? "back up:" : "models changed:";
      log?.info(
        `discovery: ${what} ${t.id}${
          t.id === outcome.kind ? "" : ` (${outcome.kind})`
        } at ${t.origin} with ${outcome.models.length} models`,
        { models: outcome.models.slice(0, 20).join(",") },
      );
    }
  }

  async function refreshProvider(
    p: Provider,
    signal: AbortSignal,
    hosted: boolean,
  ): Promise<void> {
    const hostedOne = isHosted(p);
    const wantsList = p.autoDiscover || p.source === "built-in";
    const isDown = down.has(p.id);
    const due = hostedOne ? hosted && (hostedDue.get(p.id) ?? 0) <= now() : true;
    if (!isDown && !(wantsList && due)) return;
    const origin = hostedOne ? undefined : localOrigin(p.apiBase);
    const known = refreshed.get(p.id)?.kind;
    const outcome: ProbeOutcome = origin
      ? await probeServer(fetchFn, origin, signal, { known, headers: authHeaders(p) })
      : await listProviderModels(fetchFn, p, signal);
    if (outcome.status === "down") {
      if (hostedOne) {
        // A hosted list that cannot be fetched keeps the built-in one; try again sooner.
        if (!isDown) hostedDue.set(p.id, now() + Math.min(hostedRefreshMs, 300_000));
        return;
      }
      if (!isDown) {
        down.set(p.id, downSince(outcome.reason));
        log?.warn(`discovery: ${p.id} at ${p.apiBase} is down (${outcome.reason})`);
      }
      return;
    }
    if (isDown) {
      down.delete(p.id);
      log?.info(`discovery: ${p.id} at ${p.apiBase} is back up`);
    }
    if (hostedOne) hostedDue.set(p.id, now() + hostedRefreshMs);
    if (outcome.status === "up" && wantsList) {
      refreshed.set(p.id, {
        models: outcome.models,
        kind: hostedOne ? undefined : outcome.kind,
        loaded: outcome.loaded,
        slots: outcome.slots,
      });
    }
  }

  async function round(timeoutMs: number, hosted: boolean): Promise<boolean> {
    const deadline = new AbortController();
    const timeout = setTimeout(() => deadline.abort(), timeoutMs);
    const signal = AbortSignal.any([deadline.signal, stopping.signal]);
    try {
      await Promise.all([
        ...targets.map((t) => probeTarget(t, signal)),
        ...base.providers.filter((p) => !p.inactiveReason).map((p) =>
          refreshProvider(p, signal, hosted)
        ),
      ]);
    } catch (e) {
      log?.error("discovery: a probe round failed", { error: String(e) });
    } finally {
      clearTimeout(timeout);
    }
    if (stopping.signal.aborted) return false;
    return rebuildIfChanged();
  }

  function runRound(opts: { timeoutMs?: number; hosted?: boolean } = {}): Promise<boolean> {
    // Rounds never overlap: a second caller shares the one in flight.
    if (running) return running;
    running = round(opts.timeoutMs ?? roundTimeoutMs, opts.hosted ?? false).finally(() => {
      running = undefined;
      const waiters = roundWaiters;
      roundWaiters = [];
      for (const w of waiters) w();
    });
    return running;
  }

  function schedule(delayMs: number): void {
    if (stopping.signal.aborted) return;
    const id = setTimeout(async () => {
      timer = undefined;
      await runRound({ hosted: true });
      schedule(intervalMs);
    }, delayMs);
    timer = id;
    // Probing alone must never keep the process alive (SIGTERM drains and exits).
    Deno.unrefTimer(id);
  }

  return {
    routes: () => table,
    config: () => effective,
    servers: () =>
      targets.filter((t) => t.id && t.kind).map((t) => ({
        id: t.id!,
        kind: t.kind!,
        origin: t.origin,
        apiBase: `${t.origin}/v1`,
        models: t.models,
        loaded: t.loaded,
        downReason: t.downReason,
      })),
    runRound,
    nextRound: () => new Promise((resolve) => roundWaiters.push(resolve)),
    start() {
      if (!background || started || stopping.signal.aborted) return;
      started = true;
      schedule(0);
    },
    async stop() {
      stopping.abort();
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await running;
    },
    reportUnreachable(url, reason) {
      if (!started || stopping.signal.aborted) return;
      const key = sameServerKey(url);
      let marked = false;
      for (const t of targets) {
        if (t.id && !t.downReason && sameServerKey(t.origin) === key) {
          t.downReason = downSince(reason);
          marked = true;
          log?.warn(`discovery: ${t.id} marked down after a failed request (${reason})`);
        }
      }
      for (const p of base.providers) {
        if (!down.has(p.id) && sameServerKey(p.apiBase) === key) {
          down.set(p.id, downSince(reason));
          marked = true;
          log?.warn(`discovery: ${p.id} marked down after a failed request (${reason})`);
        }
      }
      if (marked) rebuildIfChanged();
    },
  };
}
