import { isRecord } from "../narrow.ts";
import { tokenCount, type Usage } from "../../observe/usage.ts";

/**
 * Usage from a Chat Completions `usage` object: `prompt_tokens` (cached included, in
 * `prompt_tokens_details.cached_tokens`; DeepSeek's `prompt_cache_hit_tokens`) and
 * `completion_tokens` (reasoning included, in `completion_tokens_details.reasoning_tokens`).
 */
export function chatUsage(usage: unknown): Usage | undefined {
  if (!isRecord(usage)) return undefined;
  const prompt = isRecord(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {};
  const completion = isRecord(usage.completion_tokens_details)
    ? usage.completion_tokens_details
    : {};
  return {
    input: tokenCount(usage.prompt_tokens),
    output: tokenCount(usage.completion_tokens),
    cachedInput: tokenCount(prompt.cached_tokens) ?? tokenCount(usage.prompt_cache_hit_tokens),
    cacheWrite: null,
    reasoning: tokenCount(completion.reasoning_tokens),
  };
}

/**
 * Usage from a whole Chat Completions answer or one stream chunk: its `usage`, else Ollama's own
 * counters (`prompt_eval_count`, `eval_count`) that some of its answers carry instead.
 */
export function chatAnswerUsage(body: unknown): Usage | undefined {
  if (!isRecord(body)) return undefined;
  if (isRecord(body.usage)) return chatUsage(body.usage);
  return ollamaCounters(body);
}

/** Ollama's native counters: prompt_eval_count in, eval_count out. */
export function ollamaCounters(body: Record<string, unknown>): Usage | undefined {
  const input = tokenCount(body.prompt_eval_count);
  const output = tokenCount(body.eval_count);
  if (input === null && output === null) return undefined;
  return { input, output, cachedInput: null, cacheWrite: null, reasoning: null };
}
