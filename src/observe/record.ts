import type { Logger, RequestRecord } from "./log.ts";
import type { RouteTable } from "../routing/route_table.ts";
import { isLocalProvider } from "./locality.ts";
import { costUsd, hostedEquivalent, pricingFor } from "./pricing.ts";
import type { UsageRow } from "./usage_store.ts";

/**
 * A logger that hands every finished request's record to `observe` before logging it, so the
 * store and the metrics see exactly what the request log line says (and the line carries the
 * cost `observe` works out). Every other call goes to `inner`.
 */
export function observingLogger(inner: Logger, observe: (r: RequestRecord) => void): Logger {
  const logger: Logger = {
    get level() {
      return inner.level;
    },
    setLevel: (level) => inner.setLevel(level),
    error: (m, f) => inner.error(m, f),
    warn: (m, f) => inner.warn(m, f),
    info: (m, f) => inner.info(m, f),
    debug: (m, f) => inner.debug(m, f),
    request(r) {
      try {
        observe(r);
      } catch (e) {
        // Accounting must never cost a request its answer.
        inner.error("usage accounting failed", { id: r.requestId, error: String(e) });
      }
      inner.request(r);
    },
  };
  return logger;
}

/**
 * Fills in what the record's provider and tokens imply — whether it was local and its cost — and
 * returns the usage store's row for it.
 */
export function priceRecord(r: RequestRecord, table: RouteTable, nowMs: number): UsageRow {
  const provider = r.provider === undefined ? undefined : table.providers.get(r.provider);
  let equivalent: { model: string; usd: number | null } | undefined;
  if (provider && r.upstreamModel !== undefined) {
    r.local = isLocalProvider(provider);
    const applied = pricingFor(table.config, provider, r.upstreamModel, r.model);
    const cost = applied ? costUsd(r.usage, applied.pricing) : null;
    if (cost !== null) r.costUsd = cost;
    if (r.local && r.usage) {
      equivalent = hostedEquivalent(
        table.config,
        (id) => table.providers.get(id),
        r.model,
        r.usage,
      );
    }
  }
  const u = r.usage;
  return {
    timeMs: nowMs,
    requestId: r.requestId,
    keyLabel: r.keyLabel ?? null,
    protocol: r.protocol,
    model: r.model ?? null,
    provider: r.provider ?? null,
    upstreamModel: r.upstreamModel ?? null,
    local: r.local ?? null,
    status: r.status,
    streamed: r.streamed,
    attempts: r.attempts,
    queuedMs: r.queuedMs ?? null,
    ttfbMs: r.ttfbMs ?? null,
    totalMs: r.totalMs,
    inputTokens: u?.input ?? null,
    outputTokens: u?.output ?? null,
    cachedInputTokens: u?.cachedInput ?? null,
    cacheWriteTokens: u?.cacheWrite ?? null,
    reasoningTokens: u?.reasoning ?? null,
    costUsd: r.costUsd ?? null,
    hostedEquivalentModel: equivalent?.model ?? null,
    hostedEquivalentUsd: equivalent?.usd ?? null,
    outcome: r.outcome ?? null,
  };
}
