import type { Config, Prices, Pricing, Provider } from "../config/types.ts";
import type { Usage } from "./usage.ts";
import { isLocalProvider } from "./locality.ts";

/** Prices in USD per million tokens (= micro-USD per token): input, output, cache read[, cache write]. */
type Row = [number, number, number?, number?];

/**
 * Built-in list prices of the catalog's well-known hosted models (src/discovery/catalog.ts), in
 * micro-USD per token, as the providers published them on 2025-08-15. Prices change: a model's
 * `pricing` in the config always wins over this table.
 */
export const PRICES_DATE = "2025-08-15";

const TABLE: Record<string, Row> = {
  // OpenAI
  "gpt-4o": [2.5, 10, 1.25],
  "gpt-4o-mini": [0.15, 0.6, 0.075],
  "gpt-4.1": [2, 8, 0.5],
  "gpt-4.1-mini": [0.4, 1.6, 0.1],
  "gpt-4.1-nano": [0.1, 0.4, 0.025],
  "o3": [2, 8, 0.5],
  "o4-mini": [1.1, 4.4, 0.275],
  // Anthropic (cache writes: 5-minute cache)
  "claude-sonnet-4-5": [3, 15, 0.3, 3.75],
  "claude-haiku-4-5": [1, 5, 0.1, 1.25],
  "claude-opus-4-1": [15, 75, 1.5, 18.75],
  // Groq
  "llama-3.3-70b-versatile": [0.59, 0.79],
  "llama-3.1-8b-instant": [0.05, 0.08],
  // Google
  "gemini-2.5-flash": [0.3, 2.5, 0.075],
  "gemini-2.5-pro": [1.25, 10, 0.31],
  // Mistral
  "mistral-large-latest": [2, 6],
  "mistral-small-latest": [0.1, 0.3],
  "codestral-latest": [0.3, 0.9],
  // DeepSeek
  "deepseek-chat": [0.27, 1.1, 0.07],
  "deepseek-reasoner": [0.55, 2.19, 0.14],
  // xAI
  "grok-4": [3, 15, 0.75],
  "grok-3-mini": [0.3, 0.5, 0.075],
  // Cerebras
  "llama-3.3-70b": [0.85, 1.2],
  "qwen-3-32b": [0.4, 0.8],
};

/** Long-context prices of the table's models that have them (input over 200k tokens). */
const TIERS: Record<string, Prices & { aboveInputTokens: number }> = {
  "claude-sonnet-4-5": {
    aboveInputTokens: 200_000,
    input: 6,
    output: 22.5,
    cacheRead: 0.6,
    cacheWrite: 7.5,
  },
  "gemini-2.5-pro": { aboveInputTokens: 200_000, input: 2.5, output: 15, cacheRead: 0.625 },
};

/** The built-in price of a hosted model id (`openai/gpt-4o` is read as `gpt-4o`); undefined when unknown. */
export function builtInPricing(model: string): Pricing | undefined {
  if (BUILT_IN.has(model)) return BUILT_IN.get(model);
  const found = lookUp(model);
  // Ids come from the config, discovery or pins; the cache is bounded all the same.
  if (BUILT_IN.size >= 4096) BUILT_IN.clear();
  BUILT_IN.set(model, found);
  return found;
}

const BUILT_IN = new Map<string, Pricing | undefined>();

function lookUp(model: string): Pricing | undefined {
  const id = Object.hasOwn(TABLE, model) ? model : model.slice(model.lastIndexOf("/") + 1);
  if (!Object.hasOwn(TABLE, id)) return undefined;
  const [input, output, cacheRead, cacheWrite] = TABLE[id];
  return {
    input,
    output,
    cacheRead,
    cacheWrite,
    contextTiers: Object.hasOwn(TIERS, id) ? [TIERS[id]] : [],
  };
}

/** The model ids the built-in table prices. */
export function builtInPricedModels(): string[] {
  return Object.keys(TABLE);
}

/** Where a price comes from; `local`: a local server without one, free. */
export type PriceSource = "config" | "built-in" | "local";

/** The pricing that applies to one served model, and where it came from; undefined: unknown. */
export interface AppliedPricing {
  pricing: Pricing;
  source: PriceSource;
}

const FREE: Pricing = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, contextTiers: [] };

/**
 * The pricing of a request served by `provider` as `upstreamModel`, asked as `asked`. Configured
 * `pricing` wins (the virtual model's endpoint, then the provider's model entry); a local server
 * is free; a hosted one has the built-in table's price, if any.
 */
export function pricingFor(
  config: Config,
  provider: Provider,
  upstreamModel: string,
  asked: string | undefined,
): AppliedPricing | undefined {
  const vm = asked === undefined ? undefined : config.virtualModels.find((v) => v.name === asked);
  const endpoint = vm?.endpoints.find((e) =>
    e.provider === provider.id && e.model === upstreamModel && e.pricing
  );
  if (endpoint?.pricing) return { pricing: endpoint.pricing, source: "config" };
  const entry = provider.models.find((m) => m.upstreamId === upstreamModel && m.pricing) ??
    provider.models.find((m) => m.id === upstreamModel && m.pricing);
  if (entry?.pricing) return { pricing: entry.pricing, source: "config" };
  if (isLocalProvider(provider)) return { pricing: FREE, source: "local" };
  const builtIn = builtInPricing(upstreamModel);
  return builtIn ? { pricing: builtIn, source: "built-in" } : undefined;
}

/**
 * The cost in USD of the usage at these prices; null when the usage or a needed price is
 * unknown. Cached input is charged at the cache-read price (input price when none), cache
 * writes at the cache-write price (input price when none), the rest of the input at the input
 * price; a context tier replaces the prices it names when the input is over its threshold.
 */
export function costUsd(usage: Usage | undefined, pricing: Pricing): number | null {
  if (!usage || usage.input === null || usage.output === null) return null;
  const p = pricesAt(pricing, usage.input);
  if (p.input === undefined || p.output === undefined) return null;
  const cached = Math.min(usage.cachedInput ?? 0, usage.input);
  const written = Math.min(usage.cacheWrite ?? 0, usage.input - cached);
  const plain = usage.input - cached - written;
  const micro = plain * p.input + cached * (p.cacheRead ?? p.input) +
    written * (p.cacheWrite ?? p.input) + usage.output * p.output;
  return micro / 1_000_000;
}

/** The prices for an input of this many tokens: the highest tier it is over, over the base. */
export function pricesAt(pricing: Pricing, inputTokens: number): Prices {
  let tier: Prices | undefined;
  for (const t of pricing.contextTiers) if (inputTokens > t.aboveInputTokens) tier = t;
  if (!tier) return pricing;
  return {
    input: tier.input ?? pricing.input,
    output: tier.output ?? pricing.output,
    cacheRead: tier.cacheRead ?? pricing.cacheRead,
    cacheWrite: tier.cacheWrite ?? pricing.cacheWrite,
  };
}

/**
 * What a local request would have cost hosted (for `bitrouter usage`): the first hosted endpoint
 * of the same virtual model that has a price, else `usage.reference_model` — a built-in model
 * id, or `PROVIDER:MODEL` of a configured provider with `pricing`.
 */
export function hostedEquivalent(
  config: Config,
  providerById: (id: string) => Provider | undefined,
  asked: string | undefined,
  usage: Usage | undefined,
): { model: string; usd: number | null } | undefined {
  const vm = asked === undefined ? undefined : config.virtualModels.find((v) => v.name === asked);
  for (const e of vm?.endpoints ?? []) {
    const provider = providerById(e.provider);
    if (!provider || isLocalProvider(provider)) continue;
    const applied = pricingFor(config, provider, e.model, asked);
    if (applied) return { model: `${e.provider}:${e.model}`, usd: costUsd(usage, applied.pricing) };
  }
  const reference = config.usage?.referenceModel ?? "gpt-4o-mini";
  const colon = reference.indexOf(":");
  const provider = colon > 0 ? providerById(reference.slice(0, colon)) : undefined;
  const applied = provider
    ? pricingFor(config, provider, reference.slice(colon + 1), undefined)
    : undefined;
  const pricing = applied && applied.source !== "local"
    ? applied.pricing
    : builtInPricing(reference);
  if (!pricing) return undefined;
  return { model: reference, usd: costUsd(usage, pricing) };
}
