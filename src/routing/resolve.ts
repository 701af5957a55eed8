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
  /** Left out because its server is down now, not because of the config. */
  down?: boolean;
}

/** How a model string resolved (SPEC §3). */
export interface Resolution {
  model: string;
  kind: "pin" | "virtual" | "cascade";
  candidates: Candidate[];
  skipped: Skipped[];
  /** Spread over the candidates by free capacity (`strategy: balance`, SPEC §3.5). */
  balance?: boolean;
}

/** Nothing can serve the model; the message says why and what to do. */
export class NoRouteError extends Error {
  /**
   * @param unavailable true when providers serve the model but every one is down right now
   *   (a 503, not a 404: the model exists and comes back when its server does).
   */
  constructor(readonly model: string, reason: string, readonly unavailable = false) {
    super(
      `model "${model}" is not available: ${reason}; run \`bitrouter ${
        unavailable ? "providers` to see each provider's state" : "models` to list routable models"
      }`,
    );
    this.name = "NoRouteError";
  }
}

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** The longest model id accepted; real ids are far shorter, and an error echoes the id. */
export const MAX_MODEL_LENGTH = 512;

/** A model string as routed: trimmed, without control characters. */
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

/** Each provider's per-account endpoints, made once per provider object (a config's life). */
const accountEndpoints = new WeakMap<Provider, Provider[]>();

/**
 * The endpoints of a provider: itself, or with `accounts` one copy per account with that key,
 * named `provider#label` so health, capacity, headers and logs tell them apart (never by key).
 */
export function endpointsOf(provider: Provider): Provider[] {
  if (!provider.accounts) return [provider];
  let copies = accountEndpoints.get(provider);
  if (!copies) {
    copies = provider.accounts.map((a) => ({
      ...provider,
      id: `${provider.id}#${a.label}`,
      apiKey: a.apiKey,
      account: a.label,
      accounts: undefined,
    }));
    accountEndpoints.set(provider, copies);
  }
  return copies;
}

/** Candidates for a provider model: one, or one per account. */
function candidatesAt(provider: Provider, model: string): Candidate[] {
  if (!provider.accounts) return [candidate(provider, model)];
  return endpointsOf(provider).map((p) => candidate(p, model));
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
    if (pinned.downReason) {
      throw new NoRouteError(model, `provider ${pinned.id} is ${pinned.downReason}`, true);
    }
    return {
      model,
      kind: "pin",
      candidates: candidatesAt(pinned, upstreamIdAt(pinned, rest)),
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
    const r = split(model, "virtual", resolved);
    if (virtual.strategy === "balance") r.balance = true;
    return r;
  }

  const offers = table.offers.get(model) ?? [];
  if (offers.length === 0) throw new NoRouteError(model, whyNobodyOffers(table));
  const r = split(
    model,
    "cascade",
    offers.map((o) => ({ provider: o.provider, model: o.upstreamId })),
  );
  if (table.config.cascadeStrategy === "balance") r.balance = true;
  return r;
}

/** Why no provider offers a model: nothing is set up at all, or just not this model. */
function whyNobodyOffers(table: RouteTable): string {
  const { config } = table;
  if (config.file) {
    return table.providers.size === 0
      ? `${config.file} declares no providers; uncomment a block under providers:`
      : "no provider declares it";
  }
  const usable = [...table.providers.values()].some((p) => !p.inactiveReason);
  if (usable) return "no provider lists it";
  return `no config file, no local model server answering (${
    config.discovery.targets?.map((t) => t.replace(/^https?:\/\//, "")).join(", ") ||
    "discovery is off"
  }) and no hosted provider key set; start a model server (it is picked up within ${config.discovery.intervalSecs}s), export a key such as OPENAI_API_KEY, or write a config with \`bitrouter init\``;
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
    } else if (e.provider.downReason) {
      skipped.push({ ...e, reason: e.provider.downReason, down: true });
    } else if (e.provider.accounts) candidates.push(...candidatesAt(e.provider, e.model));
    else candidates.push(candidate(e.provider, e.model));
  }
  if (candidates.length === 0) {
    const why = skipped.map((s) =>
      s.down
        ? `provider ${s.provider.id} is ${s.reason}`
        : `provider ${s.provider.id} is inactive because ${s.reason}`
    );
    throw new NoRouteError(
      model,
      why.join("; ") || "it has no endpoints",
      skipped.some((s) => s.down),
    );
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
    // An id only an alias offers resolves, but is not listed: the server's own name is.
    const usable = offers.filter((o) => !o.provider.inactiveReason && !o.provider.downReason);
    if (usable.some((o) => o.listed)) out.set(id, usable.map((o) => o.provider.id));
  }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}
