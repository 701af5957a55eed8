/**
 * `POST /v1/messages/count_tokens` for upstreams that do not speak Messages (a local chat server
 * has no token-counting endpoint, and Claude Code calls it to size its context).
 */

import { isRecord, type JsonObject, records } from "../narrow.ts";

/** Anthropic documents about 1,600 tokens for an image at its largest accepted size (~1.15 MP). */
const IMAGE_TOKENS = 1600;
/** The common rule of thumb for English text and code with BPE tokenizers. */
const CHARS_PER_TOKEN = 4;

/**
 * An estimate of a Messages request's input tokens: the characters of the system prompt, of
 * every text, tool call, tool result and thinking block, and of each tool's name, description
 * and JSON input schema, divided by 4 and rounded up; plus 1,600 per image or document. A
 * rough figure (code and non-English text run nearer 3 characters a token), good for sizing a
 * context, not for billing.
 */
export function estimateTokens(body: JsonObject): number {
  let chars = 0;
  let fixed = 0;
  const add = (value: unknown) => {
    if (typeof value === "string") chars += value.length;
    else if (value !== undefined) chars += JSON.stringify(value).length;
  };
  const content = (value: unknown): void => {
    if (typeof value === "string") return add(value);
    for (const block of records(value)) {
      switch (block.type) {
        case "text":
          add(block.text);
          break;
        case "thinking":
          add(block.thinking);
          break;
        case "tool_use":
          add(block.name);
          add(block.input);
          break;
        case "tool_result":
          content(block.content);
          break;
        case "image":
        case "document":
          // Their base64 size says nothing about their token cost.
          fixed += IMAGE_TOKENS;
          break;
        default:
          add(block);
      }
    }
  };
  content(body.system);
  for (const turn of records(body.messages)) content(turn.content);
  for (const tool of records(body.tools)) {
    add(tool.name);
    add(tool.description);
    if (isRecord(tool.input_schema)) add(tool.input_schema);
  }
  return Math.ceil(chars / CHARS_PER_TOKEN) + fixed;
}
