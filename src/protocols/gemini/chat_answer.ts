/**
 * Chat Completions answers (whole and streamed) as Gemini `GenerateContentResponse`s (SPEC §6).
 *
 * Reasoning becomes a `thought: true` text part, text a text part, tool calls `functionCall`
 * parts (arguments parsed to an object; the chat call id kept as the call's `id`). Finish
 * reasons: length → MAX_TOKENS, content_filter → SAFETY, anything else (tool calls too, as Gemini
 * does) → STOP. Usage becomes `usageMetadata` (prompt, candidates, total, and reasoning tokens
 * as `thoughtsTokenCount`).
 *
 * A stream sends one response per text or reasoning delta; tool calls are sent whole in the
 * last response, with the finish reason and usage, as Gemini sends a call in one piece.
 */

import { ToolCallPieces } from "../chat/tool_call_pieces.ts";
import { errorMessageOf } from "../error_message.ts";
import { isRecord, type JsonObject, numberOf, parseJson, records, stringOf } from "../narrow.ts";
import type { SseEvent, StreamTranslator, TranslationContext } from "../translation.ts";
import { googleError } from "./errors.ts";

/** A whole chat.completion as a GenerateContentResponse. */
export function geminiAnswer(
  body: unknown,
  ctx: TranslationContext,
  thoughts: boolean,
): JsonObject {
  const answer = isRecord(body) ? body : {};
  const choice = records(answer.choices)[0] ?? {};
  const message = isRecord(choice.message) ? choice.message : {};
  const parts: JsonObject[] = [];
  const reasoning = thoughts ? reasoningOf(message) : "";
  if (reasoning !== "") parts.push({ text: reasoning, thought: true });
  const text = contentText(message.content);
  if (text !== "") parts.push({ text });
  for (const call of records(message.tool_calls)) parts.push(functionCallPart(call));
  if (parts.length === 0) parts.push({ text: "" });
  return response(ctx, parts, finishReason(choice.finish_reason), answer.usage);
}

/** A translator for one streamed answer. */
export function geminiStream(ctx: TranslationContext, thoughts: boolean): StreamTranslator {
  return new ChatToGeminiStream(ctx, thoughts);
}

function response(
  ctx: TranslationContext,
  parts: JsonObject[],
  finish: string | undefined,
  usage: unknown,
): JsonObject {
  const candidate: JsonObject = { content: { role: "model", parts } };
  if (finish !== undefined) candidate.finishReason = finish;
  candidate.index = 0;
  const out: JsonObject = { candidates: [candidate] };
  const metadata = usageMetadata(usage);
  if (metadata) out.usageMetadata = metadata;
  out.modelVersion = ctx.requestedModel;
  out.responseId = ctx.requestId.replace(/[^A-Za-z0-9_-]/g, "");
  return out;
}

function functionCallPart(call: JsonObject): JsonObject {
  const fn = isRecord(call.function) ? call.function : {};
  const args = typeof fn.arguments === "string" ? parseJson(fn.arguments) : fn.arguments;
  const functionCall: JsonObject = {
    name: stringOf(fn.name) ?? "",
    args: isRecord(args) ? args : {},
  };
  const id = stringOf(call.id);
  if (id) functionCall.id = id;
  return { functionCall };
}

function finishReason(finish: unknown): string {
  if (finish === "length") return "MAX_TOKENS";
  if (finish === "content_filter") return "SAFETY";
  return "STOP";
}

function usageMetadata(usage: unknown): JsonObject | undefined {
  if (!isRecord(usage)) return undefined;
  const prompt = numberOf(usage.prompt_tokens);
  const completion = numberOf(usage.completion_tokens);
  if (prompt === undefined && completion === undefined) return undefined;
  const details = isRecord(usage.completion_tokens_details) ? usage.completion_tokens_details : {};
  const thoughts = numberOf(details.reasoning_tokens);
  const out: JsonObject = {
    promptTokenCount: prompt ?? 0,
    candidatesTokenCount: Math.max(0, (completion ?? 0) - (thoughts ?? 0)),
    totalTokenCount: numberOf(usage.total_tokens) ?? (prompt ?? 0) + (completion ?? 0),
  };
  if (thoughts) out.thoughtsTokenCount = thoughts;
  const cached = isRecord(usage.prompt_tokens_details)
    ? numberOf(usage.prompt_tokens_details.cached_tokens)
    : undefined;
  if (cached) out.cachedContentTokenCount = cached;
  return out;
}

function reasoningOf(message: JsonObject): string {
  return stringOf(message.reasoning_content) || stringOf(message.reasoning) || "";
}

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  return records(content).map((p) => stringOf(p.text) ?? "").join("");
}

/** chat.completion.chunk events → GenerateContentResponse events. */
class ChatToGeminiStream implements StreamTranslator {
  finished = false;
  readonly #ctx: TranslationContext;
  readonly #thoughts: boolean;
  readonly #calls = new ToolCallPieces();
  #finish: unknown = undefined;
  #usage: unknown = undefined;

  constructor(ctx: TranslationContext, thoughts: boolean) {
    this.#ctx = ctx;
    this.#thoughts = thoughts;
  }

  push(event: SseEvent): SseEvent[] {
    if (this.finished) return [];
    if (event.data.trim() === "[DONE]") {
      this.finished = true;
      const parts = this.#calls.whole().map(functionCallPart);
      if (parts.length === 0) parts.push({ text: "" });
      return [data(response(this.#ctx, parts, finishReason(this.#finish), this.#usage))];
    }
    const chunk = parseJson(event.data);
    if (!isRecord(chunk)) return [];
    if (chunk.error !== undefined || event.event === "error") {
      this.finished = true;
      const code = isRecord(chunk.error) ? numberOf(chunk.error.code) : undefined;
      return [data(googleError(code ?? 500, errorMessageOf(500, chunk)))];
    }
    if (isRecord(chunk.usage)) this.#usage = chunk.usage;
    const choice = records(chunk.choices)[0];
    if (choice === undefined) return [];
    if (choice.finish_reason != null) this.#finish ??= choice.finish_reason;
    const delta = isRecord(choice.delta) ? choice.delta : {};
    for (const call of records(delta.tool_calls)) this.#calls.add(call);
    const parts: JsonObject[] = [];
    const reasoning = this.#thoughts ? reasoningOf(delta) : "";
    if (reasoning !== "") parts.push({ text: reasoning, thought: true });
    const text = contentText(delta.content);
    if (text !== "") parts.push({ text });
    return parts.length === 0 ? [] : [data(response(this.#ctx, parts, undefined, undefined))];
  }

  end(): SseEvent[] {
    return [];
  }

  fail(message: string): SseEvent[] {
    this.finished = true;
    return [data(googleError(500, message))];
  }
}

function data(body: JsonObject): SseEvent {
  return { data: JSON.stringify(body) };
}
