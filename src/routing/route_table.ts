import type { Config, Provider, VirtualModel } from "../config/types.ts";

/** One provider model a bare name can cascade to. */
export interface Offer {
  provider: Provider;
  upstreamId: string;
  /** False for an accepted alternative name (Ollama's `llama3.1` for `llama3.1:latest`). */
  listed: boolean;
  /** The server has this model loaded now, so it answers without a load delay. */
  warm: boolean;
}

/** Lookup structures built once per config, so resolving a request is a few map reads. */
export interface RouteTable {
  config: Config;
  providers: Map<string, Provider>;
  virtualModels: Map<string, VirtualModel>;
  /** Model id → every provider offering it (active, down or not), in cascade order. */
  offers: Map<string, Offer[]>;
}

/** Cascade order: lower `priority` first, then the order in the file. */
export function byPriority(a: Provider, b: Provider): number {
  return a.priority - b.priority || a.order - b.order;
}

/** Offer order: priority, then a server that has the model loaded now, then file order (SPEC §7). */
function byPriorityThenWarm(a: Offer, b: Offer): number {
  return a.provider.priority - b.provider.priority || Number(b.warm) - Number(a.warm) ||
    a.provider.order - b.provider.order;
}

/** True when the provider is an Ollama server: identified as one, or on Ollama's port. */
export function isOllama(provider: Provider): boolean {
  if (provider.kind) return provider.kind === "ollama";
  try {
    return new URL(provider.apiBase).port === "11434";
  } catch {
    return false;
  }
}

/** Ollama's other name for a model: `x:latest` ↔ `x`; undefined for any other tag. */
export function ollamaTwin(id: string): string | undefined {
  if (id.endsWith(":latest")) return id.slice(0, -":latest".length) || undefined;
  const last = id.slice(id.lastIndexOf("/") + 1);
  return last.includes(":") ? undefined : `${id}:latest`;
}

/** True when the provider has the upstream model loaded now. */
export function isLoaded(provider: Provider, upstreamId: string): boolean {
  const loaded = provider.loaded;
  if (loaded === "all") return true;
  if (!loaded?.length) return false;
  if (loaded.includes(upstreamId)) return true;
  const twin = isOllama(provider) ? ollamaTwin(upstreamId) : undefined;
  return twin !== undefined && loaded.includes(twin);
}

/** Indexes a config for resolution. */
export function buildRouteTable(config: Config): RouteTable {
  const providers = new Map(config.providers.map((p) => [p.id, p]));
  const offers = new Map<string, Offer[]>();
  const add = (id: string, offer: Offer) => {
    const list = offers.get(id) ?? [];
    const same = list.findIndex((o) => o.provider === offer.provider);
    if (same < 0) list.push(offer);
    // A name the server lists itself beats the same name as an alias.
    else if (offer.listed && !list[same].listed) list[same] = offer;
    offers.set(id, list);
  };
  for (const provider of config.providers) {
    const ollama = isOllama(provider);
    for (const m of provider.models) {
      const warm = isLoaded(provider, m.upstreamId);
      add(m.id, { provider, upstreamId: m.upstreamId, listed: true, warm });
      // Ollama reads a bare name as its `latest` tag, so both spellings reach the same model.
      const twin = ollama && m.id === m.upstreamId ? ollamaTwin(m.id) : undefined;
      if (twin) add(twin, { provider, upstreamId: m.upstreamId, listed: false, warm });
    }
  }
  for (const list of offers.values()) list.sort(byPriorityThenWarm);
  return {
    config,
    providers,
    virtualModels: new Map(config.virtualModels.map((v) => [v.name, v])),
    offers,
  };
}
