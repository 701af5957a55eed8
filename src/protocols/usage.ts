import type { Protocol } from "../config/protocol.ts";
import { lastObjectAfter, tokenCount, type Usage } from "../observe/usage.ts";
import { chatAnswerUsage, chatUsage, ollamaCounters } from "./chat/usage.ts";
import { messagesEventUsage, messagesUsage } from "./messages/usage.ts";
import { isRecord } from "./narrow.ts";
import { responsesEventUsage, responsesUsage } from "./responses/usage.ts";

/** How one upstream protocol reports usage (SPEC §8). */
export interface UsageReader {
  /** The key its usage object sits under. */
  key: string;
  /** Usage from the object under `key`. */
  fromObject(usage: unknown): Usage | undefined;
  /** Usage from a whole parsed answer or one parsed stream event. */
  fromBody(body: unknown): Usage | undefined;
}

/** Gemini's `usageMetadata`: output is candidates plus thoughts, as Google bills them. */
function geminiUsage(meta: unknown): Usage | undefined {
  if (!isRecord(meta)) return undefined;
  const candidates = tokenCount(meta.candidatesTokenCount);
  const thoughts = tokenCount(meta.thoughtsTokenCount);
  return {
    input: tokenCount(meta.promptTokenCount),
    output: candidates === null && thoughts === null ? null : (candidates ?? 0) + (thoughts ?? 0),
    cachedInput: tokenCount(meta.cachedContentTokenCount),
    cacheWrite: null,
    reasoning: thoughts,
  };
}

const READERS: Record<Protocol, UsageReader> = {
  chat_completions: { key: "usage", fromObject: chatUsage, fromBody: chatAnswerUsage },
  messages: { key: "usage", fromObject: messagesUsage, fromBody: messagesEventUsage },
  responses: { key: "usage", fromObject: responsesUsage, fromBody: responsesEventUsage },
  generate_content: {
    key: "usageMetadata",
    fromObject: geminiUsage,
    fromBody: (body) => isRecord(body) ? geminiUsage(body.usageMetadata) : undefined,
  },
};

/** How a protocol's answers report usage. */
export function usageReader(protocol: Protocol): UsageReader {
  return READERS[protocol];
}

/**
 * Usage from the text at the end of an answer or a stream, without parsing the rest: the last
 * usage object in it, or (chat) Ollama's counters.
 */
export function usageFromText(protocol: Protocol, text: string): Usage | undefined {
  const reader = READERS[protocol];
  const found = lastObjectAfter(text, reader.key);
  if (found) return reader.fromObject(found);
  if (protocol !== "chat_completions") return undefined;
  const input = /"prompt_eval_count"\s*:\s*(\d+)/.exec(text);
  const output = /"eval_count"\s*:\s*(\d+)/.exec(text);
  if (!input && !output) return undefined;
  return ollamaCounters({
    prompt_eval_count: input ? Number(input[1]) : undefined,
    eval_count: output ? Number(output[1]) : undefined,
  });
}

/**
 * Whether an upstream stream event's text may carry usage, so that only those events are parsed
 * a second time: a usage object (not `"usage":null`), or Ollama's counters.
 */
export function mayCarryUsage(data: string): boolean {
  return USAGE_HINT.test(data);
}

const USAGE_HINT = /"(?:usage|usageMetadata)"\s*:\s*\{|"eval_count"/;

const DECODER = new TextDecoder();

/**
 * Usage from a whole same-protocol answer's bytes, without parsing the answer: its last 2 KiB
 * first (every protocol puts usage at or near the end), the whole text only when not found there.
 */
export function usageFromBytes(protocol: Protocol, bytes: Uint8Array): Usage | undefined {
  const tail = 2048;
  const found = usageFromText(
    protocol,
    DECODER.decode(bytes.subarray(Math.max(0, bytes.length - tail))),
  );
  if (found || bytes.length <= tail) return found;
  return usageFromText(protocol, DECODER.decode(bytes));
}
