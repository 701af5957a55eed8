import { isRecord } from "../narrow.ts";
import { tokenCount, type Usage } from "../../observe/usage.ts";

/**
 * Usage from an Anthropic `usage` object. Anthropic counts cache reads
 * (`cache_read_input_tokens`) and cache writes (`cache_creation_input_tokens`) apart from
 * `input_tokens`; here input is all three together, as OpenAI counts it.
 */
export function messagesUsage(usage: unknown): Usage | undefined {
  if (!isRecord(usage)) return undefined;
  const plain = tokenCount(usage.input_tokens);
  const read = tokenCount(usage.cache_read_input_tokens);
  const write = tokenCount(usage.cache_creation_input_tokens);
  return {
    input: plain === null ? null : plain + (read ?? 0) + (write ?? 0),
    output: tokenCount(usage.output_tokens),
    cachedInput: read,
    cacheWrite: write,
    reasoning: null,
  };
}

/**
 * Usage from a whole Messages answer or one stream event: `message_start` carries it in
 * `message.usage` (input counts, output so far), `message_delta` in `usage` (the final output
 * count, and on current servers the input counts again).
 */
export function messagesEventUsage(body: unknown): Usage | undefined {
  if (!isRecord(body)) return undefined;
  if (isRecord(body.usage)) return messagesUsage(body.usage);
  if (isRecord(body.message)) return messagesUsage(body.message.usage);
  return undefined;
}
