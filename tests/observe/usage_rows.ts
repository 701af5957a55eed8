import type { UsageRow } from "../../src/observe/usage_store.ts";

/** A usage row as a served local request leaves it, changed by `extra`. */
export function usageRow(timeMs: number, extra: Partial<UsageRow> = {}): UsageRow {
  return {
    timeMs,
    requestId: `r-${timeMs}`,
    keyLabel: null,
    protocol: "chat_completions",
    model: "llama",
    provider: "ollama",
    upstreamModel: "llama:8b",
    local: true,
    status: 200,
    streamed: false,
    attempts: 1,
    queuedMs: null,
    ttfbMs: 12,
    totalMs: 40,
    inputTokens: 10,
    outputTokens: 5,
    cachedInputTokens: null,
    cacheWriteTokens: null,
    reasoningTokens: null,
    costUsd: 0,
    hostedEquivalentModel: "gpt-4o-mini",
    hostedEquivalentUsd: 0.0000045,
    outcome: null,
    ...extra,
  };
}
