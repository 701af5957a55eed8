import type { Protocol } from "../config/protocol.ts";
import { protocolFor } from "../config/protocol.ts";
import type { Provider } from "../config/types.ts";
import { byPriority, type RouteTable } from "./route_table.ts";

/** One place a request may be sent. */
export interface Candidate {
  provider: Provider;
  /** The model id sent upstream. */
  model: string;
  protocol: Protocol;
}

/** A candidate that was left out, and why (shown by `bitrouter route`). */
export interface Skipped {
  provider: Provider;
  model: string;
  reason: string;
}

/** How a model string resolved (SPEC §3). */
export interface Resolution {
  model: string;
  kind: "pin" | "virtual" | "cascade";
  candidates: Candidate[];
  skipped: Skipped[];
}

/** Nothing can serve the model; the message says why and what to do. */
export class NoRouteError extends Error {
  constructor(readonly model: string, reason: string) {
    super(
      `model "${model}" is not available: ${reason}; run \`bitrouter models\` to list routable models`,
    );
    this.name = "NoRouteError";
  }
}

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** The model string as matched: whitespace trimmed, control characters removed. */
export function normalizeModel(text: string): string {
  return text.replace(CONTROL, "").trim();
}

function candidate(provider: Provider, model: string): Candidate {
  return {
    provider,
    model,
    protocol: protocolFor(provider.protocolRules, model, provider.defaultProtocol),
  };
}

/** The upstream id for a model a provider was asked for: its declared alias, else the id itself. */
function upstreamIdAt(provider: Provider, id: string): string {
  return provider.models.find((m) => m.id === id)?.upstreamId ?? id;
}

/** Resolves a request's model into ordered candidates: pin, then virtual model, then cascade. */
export function resolveCandidates(table: RouteTable, requested: string): Resolution {
  const model = normalizeModel(requested);
  if (!model) throw new NoRouteError(model, "the model name is empty");

  const colon = model.indexOf(":");
  const pinned = colon > 0 ? table.providers.get(model.slice(0, colon)) : undefined;
  if (pinned) {
    const rest = model.slice(colon + 1);
    if (!rest) {
      throw new NoRouteError(model, `nothing follows "${pinned.id}:"; write ${pinned.id}:MODEL`);
    }
    if (pinned.inactiveReason) {
      throw new NoRouteError(
        model,
        `provider ${pinned.id} is inactive because ${pinned.inactiveReason}`,
      );
    }
    return {
      model,
      kind: "pin",
      candidates: [candidate(pinned, upstreamIdAt(pinned, rest))],
      skipped: [],
    };
  }

  const virtual = table.virtualModels.get(model);
  if (virtual) {
    const resolved = virtual.endpoints.flatMap((e) => {
      const provider = table.providers.get(e.provider);
      return provider ? [{ provider, model: upstreamIdAt(provider, e.model) }] : [];
    });
    if (virtual.strategy === "cascade") resolved.sort((a, b) => byPriority(a.provider, b.provider));
    return split(model, "virtual", resolved);
  }

  const offers = table.offers.get(model) ?? [];
  if (table.providers.size === 0) {
    throw new NoRouteError(
      model,
      table.config.file
        ? `${table.config.file} declares no providers; uncomment a block under providers:`
        : "no config file, and no local model server answered on 11434, 8000, 1234 or 8080; start one (then restart bitrouter) or write a config with `bitrouter init`",
    );
  }
  if (offers.length === 0) throw new NoRouteError(model, "no provider declares it");
  return split(
    model,
    "cascade",
    offers.map((o) => ({ provider: o.provider, model: o.upstreamId })),
  );
}

function split(
  model: string,
  kind: Resolution["kind"],
  entries: { provider: Provider; model: string }[],
): Resolution {
  const candidates: Candidate[] = [];
  const skipped: Skipped[] = [];
  for (const e of entries) {
    if (e.provider.inactiveReason) {
      skipped.push({ ...e, reason: e.provider.inactiveReason });
    } else candidates.push(candidate(e.provider, e.model));
  }
  if (candidates.length === 0) {
    const why = skipped.map((s) => `provider ${s.provider.id} is inactive because ${s.reason}`);
    throw new NoRouteError(model, why.join("; ") || "it has no endpoints");
  }
  return { model, kind, candidates, skipped };
}

/** Every model id that resolves now, with the providers behind it, sorted by id (SPEC §3: a listed model never 404s). */
export function routableModels(table: RouteTable): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const name of table.virtualModels.keys()) {
    try {
      const r = resolveCandidates(table, name);
      out.set(name, [...new Set(r.candidates.map((c) => c.provider.id))]);
    } catch { /* a virtual model whose every endpoint is inactive does not resolve */ }
  }
  for (const [id, offers] of table.offers) {
    if (out.has(id)) continue;
    const active = offers.filter((o) => !o.provider.inactiveReason).map((o) => o.provider.id);
    if (active.length) out.set(id, active);
  }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}
