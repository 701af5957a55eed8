import type { Provider } from "../../config/types.ts";
import type { CapacityBook } from "../../routing/capacity.ts";
import type { HealthBook } from "../../routing/health.ts";
import { NoRouteError, resolveCandidates } from "../../routing/resolve.ts";
import type { RouteTable } from "../../routing/route_table.ts";
import { isLocalProvider } from "../../observe/locality.ts";
import type { RecentRequests } from "../../observe/recent_requests.ts";
import type { UsageOverview } from "../../observe/usage_series.ts";
import { providerSecrets, redactSecrets } from "../redact.ts";
import { orderToTry } from "../forward.ts";

/** No tokens asked of a request that does not exist. */
const noTokens = () => 0;

/**
 * What the status endpoint and the dashboard show beyond the handler's own books (built in
 * serve.ts, like `metrics`): the last requests, the usage store's sums, the route table to watch.
 */
export interface StatusSources {
  /** The last finished requests (observe/recent_requests.ts). */
  recent?: RecentRequests;
  /** Usage sums from the store; null when usage is off or the store cannot be read. */
  usage?: () => Promise<UsageOverview | null>;
  /** The current route table, for event streams that outlive the request's own. */
  routes?: () => RouteTable;
  /** Aborted when the server begins to shut down: open event streams end at once. */
  stopping?: AbortSignal;
  /** Wall clock (ms since the epoch); default Date.now. */
  wallNow?: () => number;
}

/** One provider as the dashboard shows it; never a credential. */
export interface ProviderView {
  id: string;
  /** The server kind discovery identified (`ollama`, `vllm`, …), else null. */
  kind: string | null;
  protocol: string;
  /** api_base without user info, and with the provider's secrets redacted. */
  api_base: string;
  source: string;
  local: boolean;
  /** `up`, `down` (discovery or a failed connect says so) or `inactive` (the config says why). */
  state: "up" | "down" | "inactive";
  /** Why down or inactive; null when up. */
  reason: string | null;
  /** When this state was first seen by the running server, ISO 8601 (its start at the latest). */
  since: string;
  models: string[];
  /** Models loaded in memory now, where the server says (`all`: it serves only loaded ones). */
  loaded: string[] | "all" | null;
}

/** The order a virtual model's endpoints would be tried in now. */
export interface VirtualModelView {
  name: string;
  strategy: string;
  order: {
    provider: string;
    model: string;
    /** `healthy`, `cooling` or `probing`, or `skipped` (inactive or down: not tried). */
    state: string;
    reason: string | null;
  }[];
}

/** Most models listed per provider: a hosted catalogue can list hundreds. */
const MAX_MODELS_SHOWN = 200;

/**
 * The api_base as shown: no `user:password@`, no query or fragment (where some put a token:
 * `?key=`), and no secret of the provider anywhere in what is left. A hidden query shows as `?…`.
 */
export function shownApiBase(p: Provider): string {
  let text = p.apiBase;
  try {
    const u = new URL(p.apiBase);
    if (u.username || u.password || u.search || u.hash) {
      const query = u.search ? "?…" : "";
      u.username = "";
      u.password = "";
      u.search = "";
      u.hash = "";
      text = u.href.replace(/\/$/, p.apiBase.split(/[?#]/)[0].endsWith("/") ? "/" : "") + query;
    }
  } catch { /* kept as written */ }
  return redactSecrets(text, providerSecrets(p));
}

/**
 * Remembers when each provider's state was first seen, so the dashboard can say "up since": the
 * route table says whether a provider is up, not since when. Bounded by the providers of the
 * table (those that left are forgotten).
 */
export class StateSince {
  readonly #seen = new Map<string, { state: string; sinceMs: number }>();
  constructor(private readonly startMs: number) {}

  /** When `id` entered `state`, noting it now if it just did. */
  since(id: string, state: string, nowMs: number): number {
    const e = this.#seen.get(id);
    if (e?.state === state) return e.sinceMs;
    const sinceMs = e ? nowMs : this.startMs;
    this.#seen.set(id, { state, sinceMs });
    return sinceMs;
  }

  /** Forgets providers not in ids. */
  retain(ids: Set<string>): void {
    for (const id of this.#seen.keys()) if (!ids.has(id)) this.#seen.delete(id);
  }
}

/** Every provider of the table, in its order. */
export function providersOf(table: RouteTable, since: StateSince, nowMs: number): ProviderView[] {
  const out = [...table.providers.values()].map((p) => {
    const state = p.inactiveReason ? "inactive" : p.downReason ? "down" : "up";
    const loaded = p.loaded === "all" ? "all" : p.loaded ? [...p.loaded] : null;
    return {
      id: p.id,
      kind: p.kind ?? null,
      protocol: p.protocolRules.length
        ? p.protocolRules.map((r) => `${r.pattern}=${r.protocol}`).join(",")
        : p.defaultProtocol,
      api_base: shownApiBase(p),
      source: p.source,
      local: isLocalProvider(p),
      state,
      reason: p.inactiveReason ?? p.downReason ?? null,
      since: new Date(since.since(p.id, state, nowMs)).toISOString(),
      models: p.models.slice(0, MAX_MODELS_SHOWN).map((m) => m.id),
      loaded,
    } satisfies ProviderView;
  });
  since.retain(new Set(table.providers.keys()));
  return out;
}

/**
 * Each virtual model's endpoints in the order a request would try them now (the request path's
 * `orderToTry`, for a request of no tokens and no conversation); then those skipped (inactive or
 * down) with why.
 */
export function virtualModelsOf(
  table: RouteTable,
  health: HealthBook,
  capacity: CapacityBook | undefined,
): VirtualModelView[] {
  const states = new Map<string, { state: string; why: string | null }>();
  for (const e of health.snapshot()) {
    if (e.state !== "cooling" && e.state !== "probing") continue;
    const why = e.state === "cooling"
      ? `cooling ${Math.ceil((e.coolingForMs ?? 0) / 1000)}s: ${e.lastError ?? "failed"}`
      : "probing after its cooldown";
    states.set(`${e.provider}\u0000${e.model}`, { state: e.state, why });
  }
  return [...table.virtualModels.values()].map((v) => {
    const view: VirtualModelView = { name: v.name, strategy: v.strategy, order: [] };
    let r;
    try {
      r = resolveCandidates(table, v.name);
    } catch (e) {
      if (!(e instanceof NoRouteError)) throw e;
      view.order = v.endpoints.map((x) => ({
        provider: x.provider,
        model: x.model,
        state: "skipped",
        reason: table.providers.get(x.provider)?.inactiveReason ??
          table.providers.get(x.provider)?.downReason ?? "no such provider",
      }));
      return view;
    }
    // The request path's own choice, looking only (no health record touched, no token count).
    const ordered = orderToTry(
      health.order(r.candidates, false),
      r.balance === true,
      capacity,
      noTokens,
      undefined,
    );
    view.order = [
      ...ordered.map((c) => {
        const s = states.get(`${c.provider.id}\u0000${c.model}`);
        return {
          provider: c.provider.id,
          model: c.model,
          state: s?.state ?? "healthy",
          reason: s?.why ?? null,
        };
      }),
      ...r.skipped.map((s) => ({
        provider: s.provider.id,
        model: s.model,
        state: "skipped",
        reason: s.reason,
      })),
    ];
    return view;
  });
}
