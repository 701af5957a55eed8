import { isRecord } from "../narrow.ts";
import { tokenCount, type Usage } from "../../observe/usage.ts";

/** Usage from a Responses `usage` object (`input_tokens_details.cached_tokens`, `output_tokens_details.reasoning_tokens`). */
export function responsesUsage(usage: unknown): Usage | undefined {
  if (!isRecord(usage)) return undefined;
  const input = isRecord(usage.input_tokens_details) ? usage.input_tokens_details : {};
  const output = isRecord(usage.output_tokens_details) ? usage.output_tokens_details : {};
  return {
    input: tokenCount(usage.input_tokens),
    output: tokenCount(usage.output_tokens),
    cachedInput: tokenCount(input.cached_tokens),
    cacheWrite: null,
    reasoning: tokenCount(output.reasoning_tokens),
  };
}

/** Usage from a whole response object or a stream event (`response.completed` holds the response). */
export function responsesEventUsage(body: unknown): Usage | undefined {
  if (!isRecord(body)) return undefined;
  if (isRecord(body.usage)) return responsesUsage(body.usage);
  if (isRecord(body.response)) return responsesUsage(body.response.usage);
  return undefined;
}
