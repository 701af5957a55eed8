import {
  MAX_MODEL_LENGTH,
  normalizeModel,
  NoRouteError,
  type Resolution,
  resolveCandidates,
} from "./resolve.ts";
import type { RouteTable } from "./route_table.ts";

/** The most fallback models one request may list. */
export const MAX_FALLBACKS = 8;

/** A request's `models` list that cannot be used: answered 400, naming the entry. */
export class FallbackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FallbackError";
  }
}

/**
 * The request's own fallback list (OpenRouter's `"models": ["a", "b"]`), tried in order after the
 * main model's candidates. An entry equal to the main model adds nothing (OpenRouter clients
 * often repeat it first); a candidate already in the list is not tried twice.
 */
export function withFallbacks(table: RouteTable, main: Resolution, models: unknown): Resolution {
  if (!Array.isArray(models) || models.some((m) => typeof m !== "string")) {
    throw new FallbackError("`models` must be a list of model ids to fall back to, in order");
  }
  if (models.length > MAX_FALLBACKS) {
    throw new FallbackError(
      `\`models\` lists ${models.length} fallbacks; at most ${MAX_FALLBACKS} are allowed`,
    );
  }
  const long = models.findIndex((m: string) => m.length > MAX_MODEL_LENGTH);
  if (long >= 0) {
    // Like `model`: an error echoes the id, so a huge one would make a huge answer and log line.
    throw new FallbackError(
      `models[${long}] is ${
        models[long].length
      } characters long; model ids are at most ${MAX_MODEL_LENGTH}`,
    );
  }
  const candidates = [...main.candidates];
  const seen = new Set(candidates.map((c) => `${c.provider.id}\u0000${c.model}`));
  models.forEach((id: string, i) => {
    if (normalizeModel(id) === main.model) return;
    let extra: Resolution;
    try {
      extra = resolveCandidates(table, id);
    } catch (e) {
      if (e instanceof NoRouteError) throw new FallbackError(`models[${i}]: ${e.message}`);
      throw e;
    }
    for (const c of extra.candidates) {
      const key = `${c.provider.id}\u0000${c.model}`;
      if (!seen.has(key)) {
        seen.add(key);
        candidates.push(c);
      }
    }
  });
  return { ...main, candidates };
}
