import type { Config, Provider, VirtualModel } from "../config/types.ts";

/** One provider model a bare name can cascade to. */
export interface Offer {
  provider: Provider;
  upstreamId: string;
}

/** Lookup structures built once per config, so resolving a request is a few map reads. */
export interface RouteTable {
  config: Config;
  providers: Map<string, Provider>;
  virtualModels: Map<string, VirtualModel>;
  /** Model id → every provider declaring it (active or not), in cascade order. */
  offers: Map<string, Offer[]>;
}

/** Cascade order: lower `priority` first, then the order in the file. */
export function byPriority(a: Provider, b: Provider): number {
  return a.priority - b.priority || a.order - b.order;
}

/** Indexes a config for resolution. */
export function buildRouteTable(config: Config): RouteTable {
  const providers = new Map(config.providers.map((p) => [p.id, p]));
  const offers = new Map<string, Offer[]>();
  for (const provider of [...config.providers].sort(byPriority)) {
    for (const m of provider.models) {
      const list = offers.get(m.id) ?? [];
      if (!list.some((o) => o.provider === provider)) {
        list.push({ provider, upstreamId: m.upstreamId });
      }
      offers.set(m.id, list);
    }
  }
  return {
    config,
    providers,
    virtualModels: new Map(config.virtualModels.map((v) => [v.name, v])),
    offers,
  };
}
