/**
 * Chat Completions answers (whole and streamed) as Ollama's `/api/chat` and `/api/generate`
 * answers (SPEC §6).
 *
 * A stream becomes one JSON object per content delta (`done: false`), then one final object
 * with `done: true`, `done_reason` and Ollama's counters, as Ollama streams. Tool calls are sent
 * whole, in one object before the final one, as Ollama does: their arguments arrive in pieces
 * on a chat stream and Ollama's are a parsed object.
 *
 * Counters: `prompt_eval_count` and `eval_count` are the upstream's usage (left out when it
 * reported none); durations are nanoseconds of BitRouter's own timing — `total_duration` from
 * the request's arrival to the end, `prompt_eval_duration` until the first streamed token and
 * `eval_duration` from there to the end (a whole answer counts all of it as eval), and
 * `load_duration` 0, since a server's model loading cannot be told apart from its answer.
 */

import { ToolCallPieces } from "../chat/tool_call_pieces.ts";
import { errorMessageOf } from "../error_message.ts";
import { isRecord, type JsonObject, numberOf, parseJson, records, stringOf } from "../narrow.ts";
import type { SseEvent, StreamTranslator, TranslationContext } from "../translation.ts";
import { ollamaError } from "./errors.ts";

/** Which Ollama endpoint the answer is for: `/api/chat` (a message) or `/api/generate` (a response text). */
export type OllamaShape = "chat" | "generate";

/** What a whole chat.completion becomes. */
export function ollamaAnswer(
  shape: OllamaShape,
  body: unknown,
  ctx: TranslationContext,
  thinking: boolean,
): JsonObject {
  const answer = isRecord(body) ? body : {};
  const choice = records(answer.choices)[0] ?? {};
  const message = isRecord(choice.message) ? choice.message : {};
  const reasoning = thinking ? reasoningOf(message) : "";
  const calls = records(message.tool_calls).map(ollamaToolCall);
  const elapsed = elapsedNs(ctx);
  return {
    ...head(ctx),
    ...content(shape, contentText(message.content), reasoning, calls),
    done: true,
    done_reason: doneReason(choice.finish_reason),
    ...counters(answer.usage, elapsed, 0, elapsed),
  };
}

/** A translator for one streamed answer. */
export function ollamaStream(
  shape: OllamaShape,
  ctx: TranslationContext,
  thinking: boolean,
): StreamTranslator {
  return new ChatToOllamaStream(shape, ctx, thinking);
}

function head(ctx: TranslationContext): JsonObject {
  const ms = ctx.now && ctx.startedAtMs !== undefined
    ? ctx.nowSecs * 1000 + (ctx.now() - ctx.startedAtMs)
    : ctx.nowSecs * 1000;
  return { model: ctx.requestedModel, created_at: new Date(ms).toISOString() };
}

/** The part of an object that carries text, reasoning and tool calls, in the endpoint's shape. */
function content(
  shape: OllamaShape,
  text: string,
  reasoning: string,
  calls: JsonObject[],
): JsonObject {
  if (shape === "generate") {
    const out: JsonObject = { response: text };
    if (reasoning !== "") out.thinking = reasoning;
    return out;
  }
  const message: JsonObject = { role: "assistant", content: text };
  if (reasoning !== "") message.thinking = reasoning;
  if (calls.length > 0) message.tool_calls = calls;
  return { message };
}

function ollamaToolCall(call: JsonObject): JsonObject {
  const fn = isRecord(call.function) ? call.function : {};
  const args = typeof fn.arguments === "string" ? parseJson(fn.arguments) : fn.arguments;
  const out: JsonObject = {
    function: { name: stringOf(fn.name) ?? "", arguments: isRecord(args) ? args : {} },
  };
  const id = stringOf(call.id);
  if (id) out.id = id;
  return out;
}

/** Ollama's done_reason: `length` when cut at the token limit, else `stop` (tool calls too). */
function doneReason(finish: unknown): string {
  return finish === "length" ? "length" : "stop";
}

/** Reasoning text as vLLM and DeepSeek (`reasoning_content`) or Ollama (`reasoning`) send it. */
function reasoningOf(message: JsonObject): string {
  return stringOf(message.reasoning_content) || stringOf(message.reasoning) || "";
}

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  return records(content).map((p) => stringOf(p.text) ?? "").join("");
}

/** Nanoseconds since the request arrived, by BitRouter's clock; 0 without one. */
function elapsedNs(ctx: TranslationContext, since = ctx.startedAtMs): number {
  if (!ctx.now || since === undefined) return 0;
  return Math.max(0, Math.round((ctx.now() - since) * 1e6));
}

/** Ollama's counters: token counts from the usage (omitted when unknown), durations in ns. */
function counters(usage: unknown, total: number, prompt: number, evaluation: number): JsonObject {
  const u = isRecord(usage) ? usage : {};
  const out: JsonObject = { total_duration: total, load_duration: 0 };
  const promptTokens = numberOf(u.prompt_tokens);
  if (promptTokens !== undefined) out.prompt_eval_count = promptTokens;
  out.prompt_eval_duration = prompt;
  const evalTokens = numberOf(u.completion_tokens);
  if (evalTokens !== undefined) out.eval_count = evalTokens;
  out.eval_duration = evaluation;
  return out;
}

/** chat.completion.chunk events → Ollama's stream objects (written as NDJSON by the relay). */
class ChatToOllamaStream implements StreamTranslator {
  finished = false;
  readonly #shape: OllamaShape;
  readonly #ctx: TranslationContext;
  readonly #thinking: boolean;
  readonly #calls = new ToolCallPieces();
  #finish: unknown = undefined;
  #usage: unknown = undefined;
  /** When the first token arrived, on ctx.now's clock. */
  #firstAt: number | undefined;

  constructor(shape: OllamaShape, ctx: TranslationContext, thinking: boolean) {
    this.#shape = shape;
    this.#ctx = ctx;
    this.#thinking = thinking;
  }

  push(event: SseEvent): SseEvent[] {
    if (this.finished) return [];
    if (event.data.trim() === "[DONE]") {
      this.finished = true;
      return [...this.#toolCalls(), this.#final()];
    }
    const chunk = parseJson(event.data);
    if (!isRecord(chunk)) return [];
    if (chunk.error !== undefined || event.event === "error") {
      this.finished = true;
      return [line(ollamaError(errorMessageOf(500, chunk)))];
    }
    if (isRecord(chunk.usage)) this.#usage = chunk.usage;
    const choice = records(chunk.choices)[0];
    if (choice === undefined) return [];
    if (choice.finish_reason != null) this.#finish ??= choice.finish_reason;
    const delta = isRecord(choice.delta) ? choice.delta : {};
    for (const call of records(delta.tool_calls)) this.#calls.add(call);
    const reasoning = this.#thinking ? reasoningOf(delta) : "";
    const text = contentText(delta.content);
    if (text === "" && reasoning === "") return [];
    this.#firstAt ??= this.#ctx.now?.();
    return [line({
      ...head(this.#ctx),
      ...content(this.#shape, text, reasoning, []),
      done: false,
    })];
  }

  end(): SseEvent[] {
    return [];
  }

  fail(message: string): SseEvent[] {
    this.finished = true;
    return [line(ollamaError(message))];
  }

  #toolCalls(): SseEvent[] {
    const calls = this.#calls.whole();
    if (calls.length === 0 || this.#shape !== "chat") return [];
    return [line({
      ...head(this.#ctx),
      message: {
        role: "assistant",
        content: "",
        tool_calls: calls.map(ollamaToolCall),
      },
      done: false,
    })];
  }

  #final(): SseEvent {
    const total = elapsedNs(this.#ctx);
    const prompt = this.#firstAt === undefined ? total : elapsedNs(this.#ctx) -
      elapsedNs(this.#ctx, this.#firstAt);
    return line({
      ...head(this.#ctx),
      ...content(this.#shape, "", "", []),
      done: true,
      done_reason: doneReason(this.#finish),
      ...counters(this.#usage, total, prompt, total - prompt),
    });
  }
}

function line(data: JsonObject): SseEvent {
  return { data: JSON.stringify(data) };
}
