/**
 * Messages client → Chat Completions upstream (SPEC §6): what lets Claude Code run against a local
 * Ollama, vLLM, LM Studio or llama.cpp model. The request becomes a Chat Completions request; the
 * chat.completion (whole or streamed) becomes an Anthropic `message` (or its event sequence).
 *
 * Anthropic-only features with no Chat Completions counterpart (prompt caching marks, thinking
 * budgets and signed thinking blocks, server tools, documents, metadata, top_k, context
 * management) are dropped rather than refused: Claude Code sends most of them on every request,
 * and a local model answers fine without them.
 */

import { errorMessageOf } from "../error_message.ts";
import { isRecord, type JsonObject, numberOf, parseJson, records, stringOf } from "../narrow.ts";
import {
  type SseEvent,
  type StreamTranslator,
  type Translation,
  type TranslationContext,
  TranslationError,
} from "../translation.ts";
import { anthropicError, anthropicErrorType, knownAnthropicErrorType } from "./errors.ts";
import { oneSystemMessage } from "../chat/system_messages.ts";

/** Anthropic Messages client, Chat Completions upstream. */
export const messagesViaChat: Translation = {
  request: chatRequest,
  response: messageAnswer,
  stream: (ctx) => new ChatToMessagesStream(ctx),
  error: (status, body) => anthropicError(anthropicErrorType(status), errorMessageOf(status, body)),
};

/** How the text blocks of one turn are joined when the chat side wants a single string. */
const JOIN = "\n\n";

// --- request ---

function chatRequest(body: JsonObject, ctx: TranslationContext): JsonObject {
  if (!Array.isArray(body.messages)) {
    throw new TranslationError("messages: expected an array of turns", "messages");
  }
  const messages: JsonObject[] = [];
  const system = textOf(body.system);
  if (system !== "") messages.push({ role: "system", content: system });
  for (const turn of records(body.messages)) messages.push(...chatMessages(turn));

  const out: JsonObject = {
    model: ctx.upstreamModel,
    // Claude Code sends a system turn after the first user turn; strict templates refuse it.
    messages: oneSystemMessage(messages, ctx.systemMessages),
  };
  if (numberOf(body.max_tokens) !== undefined) out.max_tokens = body.max_tokens;
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) {
    out.stop = body.stop_sequences;
  }
  for (const key of ["temperature", "top_p"]) {
    if (numberOf(body[key]) !== undefined) out[key] = body[key];
  }
  const tools = records(body.tools).filter((t) => isRecord(t.input_schema)).map(chatTool);
  if (tools.length > 0) {
    out.tools = tools;
    Object.assign(out, chatToolChoice(body.tool_choice));
  }
  const format = isRecord(body.output_config) ? body.output_config.format : undefined;
  if (isRecord(format) && format.type === "json_schema" && isRecord(format.schema)) {
    // Chat Completions requires a name; Anthropic's format has none.
    out.response_format = {
      type: "json_schema",
      json_schema: { name: "output", schema: format.schema },
    };
  }
  if (body.stream === true) {
    out.stream = true;
    // Without it no usage arrives on a stream, and Claude Code shows and budgets by usage.
    out.stream_options = { include_usage: true };
  }
  return out;
}

/** The chat messages one Messages turn becomes (a user turn with tool results becomes several). */
function chatMessages(turn: JsonObject): JsonObject[] {
  const role = stringOf(turn.role);
  if (role === "system") {
    const text = textOf(turn.content);
    return text === "" ? [] : [{ role: "system", content: text }];
  }
  if (role === "assistant") return assistantMessages(turn.content);
  if (role === "user") return userMessages(turn.content);
  throw new TranslationError(`messages: unknown role ${JSON.stringify(turn.role)}`, "messages");
}

function assistantMessages(content: unknown): JsonObject[] {
  if (typeof content === "string") return [{ role: "assistant", content }];
  const texts: string[] = [];
  const toolCalls: JsonObject[] = [];
  for (const block of records(content)) {
    if (block.type === "text" && typeof block.text === "string") texts.push(block.text);
    if (block.type === "tool_use") {
      toolCalls.push({
        id: stringOf(block.id) ?? "",
        type: "function",
        function: {
          name: stringOf(block.name) ?? "",
          arguments: JSON.stringify(isRecord(block.input) ? block.input : {}),
        },
      });
    }
    // thinking / redacted_thinking carry Anthropic signatures no chat server can use; dropped.
  }
  const text = texts.join(JOIN);
  if (toolCalls.length === 0) return text === "" ? [] : [{ role: "assistant", content: text }];
  return [{ role: "assistant", content: text === "" ? null : text, tool_calls: toolCalls }];
}

/**
 * A user turn: its tool results become `tool` messages first — Chat Completions wants them right
 * after the assistant message that made the calls — then the rest of the turn one user message.
 */
function userMessages(content: unknown): JsonObject[] {
  if (typeof content === "string") return [{ role: "user", content }];
  const tools: JsonObject[] = [];
  const parts: JsonObject[] = [];
  for (const block of records(content)) {
    if (block.type === "tool_result") {
      const result = toolResult(block);
      tools.push(result.message);
      // A tool message carries text only; a screenshot a tool returned still reaches a vision
      // model as part of the user message that follows.
      parts.push(...result.images);
      continue;
    }
    const part = userPart(block);
    if (part !== undefined) parts.push(part);
  }
  const out = [...tools];
  if (parts.length > 0) out.push({ role: "user", content: userContent(parts) });
  return out;
}

function toolResult(block: JsonObject): { message: JsonObject; images: JsonObject[] } {
  const texts: string[] = [];
  const images: JsonObject[] = [];
  if (typeof block.content === "string") texts.push(block.content);
  for (const item of records(block.content)) {
    if (item.type === "text" && typeof item.text === "string") texts.push(item.text);
    const image = item.type === "image" ? imagePart(item) : undefined;
    if (image !== undefined) images.push(image);
  }
  return {
    message: {
      role: "tool",
      tool_call_id: stringOf(block.tool_use_id) ?? "",
      content: texts.join(JOIN),
    },
    images,
  };
}

/** The chat content part for a user block; undefined for a block chat cannot carry. */
function userPart(block: JsonObject): JsonObject | undefined {
  if (block.type === "text" && typeof block.text === "string") {
    return { type: "text", text: block.text };
  }
  if (block.type === "image") return imagePart(block);
  // A plain-text document is text; PDFs, files and server-tool blocks have no chat form.
  if (block.type === "document" && isRecord(block.source) && block.source.type === "text") {
    const data = stringOf(block.source.data);
    if (data !== undefined) return { type: "text", text: data };
  }
  return undefined;
}

function imagePart(block: JsonObject): JsonObject | undefined {
  const source = isRecord(block.source) ? block.source : {};
  if (source.type === "base64" && typeof source.data === "string") {
    const mediaType = stringOf(source.media_type) ?? "image/png";
    return { type: "image_url", image_url: { url: `data:${mediaType};base64,${source.data}` } };
  }
  if (source.type === "url" && typeof source.url === "string") {
    return { type: "image_url", image_url: { url: source.url } };
  }
  return undefined;
}

/** Text-only content is sent as one string: every local server accepts that, not all take parts. */
function userContent(parts: JsonObject[]): string | JsonObject[] {
  if (parts.every((p) => p.type === "text")) return parts.map((p) => p.text).join(JOIN);
  return parts;
}

function chatTool(tool: JsonObject): JsonObject {
  const fn: JsonObject = { name: stringOf(tool.name) ?? "" };
  if (typeof tool.description === "string") fn.description = tool.description;
  fn.parameters = tool.input_schema;
  return { type: "function", function: fn };
}

function chatToolChoice(choice: unknown): JsonObject {
  if (!isRecord(choice)) return {};
  const out: JsonObject = {};
  switch (choice.type) {
    case "auto":
      out.tool_choice = "auto";
      break;
    case "any":
      out.tool_choice = "required";
      break;
    case "none":
      out.tool_choice = "none";
      break;
    case "tool":
      out.tool_choice = { type: "function", function: { name: stringOf(choice.name) ?? "" } };
      break;
  }
  if (choice.disable_parallel_tool_use === true) out.parallel_tool_calls = false;
  return out;
}

/** The text of a string or a list of text blocks (system prompts, system turns). */
function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  return records(value)
    .filter((b) => b.type === "text" && typeof b.text === "string")
    .map((b) => b.text)
    .join(JOIN);
}

// --- whole answer ---

function messageAnswer(body: unknown, ctx: TranslationContext): JsonObject {
  const answer = isRecord(body) ? body : {};
  const choice = records(answer.choices)[0] ?? {};
  const message = isRecord(choice.message) ? choice.message : {};
  const content: JsonObject[] = [];
  const reasoning = reasoningOf(message);
  if (reasoning !== "") content.push({ type: "thinking", thinking: reasoning, signature: "" });
  const text = contentText(message.content);
  if (text !== "") content.push({ type: "text", text });
  records(message.tool_calls).forEach((call, i) => {
    const fn = isRecord(call.function) ? call.function : {};
    content.push({
      type: "tool_use",
      id: stringOf(call.id) || toolUseId(ctx, i),
      name: stringOf(fn.name) ?? "",
      input: toolInput(fn.arguments),
    });
  });
  const hasToolUse = content.some((b) => b.type === "tool_use");
  return {
    id: messageId(ctx),
    type: "message",
    role: "assistant",
    model: ctx.requestedModel,
    content,
    stop_reason: stopReason(choice.finish_reason, hasToolUse),
    stop_sequence: null,
    usage: messageUsage(answer.usage),
  };
}

/** Reasoning text as vLLM and DeepSeek (`reasoning_content`) or Ollama (`reasoning`) send it. */
function reasoningOf(message: JsonObject): string {
  return stringOf(message.reasoning_content) || stringOf(message.reasoning) || "";
}

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  return records(content).map((p) => stringOf(p.text) ?? "").join("");
}

/** Parsed tool arguments; a model's malformed or empty arguments become `{}`, as Anthropic's input must be an object. */
function toolInput(args: unknown): JsonObject {
  const parsed = typeof args === "string" ? parseJson(args) : args;
  return isRecord(parsed) ? parsed : {};
}

/**
 * The Anthropic stop reason for a chat finish reason. Some local servers answer `stop` even when
 * the model called a tool; the client must still learn it has tools to run.
 */
function stopReason(finish: unknown, hasToolUse: boolean): string {
  if (hasToolUse && (finish === "stop" || finish === "tool_calls" || finish == null)) {
    return "tool_use";
  }
  switch (finish) {
    case "length":
      return "max_tokens";
    case "tool_calls":
    case "function_call":
      return "tool_use";
    case "content_filter":
      return "refusal";
    default:
      return "end_turn";
  }
}

/**
 * Anthropic usage from chat usage. Anthropic counts cached prompt tokens apart from
 * `input_tokens`, so the cached part is moved out of it.
 */
function messageUsage(usage: unknown): JsonObject {
  const u = isRecord(usage) ? usage : {};
  const prompt = numberOf(u.prompt_tokens) ?? 0;
  const details = isRecord(u.prompt_tokens_details) ? u.prompt_tokens_details : {};
  const cached = numberOf(details.cached_tokens);
  const out: JsonObject = {
    input_tokens: Math.max(0, prompt - (cached ?? 0)),
    output_tokens: numberOf(u.completion_tokens) ?? 0,
  };
  if (cached !== undefined) out.cache_read_input_tokens = cached;
  return out;
}

function messageId(ctx: TranslationContext): string {
  return `msg_${idPart(ctx.requestId)}`;
}

function toolUseId(ctx: TranslationContext, index: number): string {
  return `toolu_${idPart(ctx.requestId)}_${index}`;
}

/** A request id reduced to the characters Anthropic ids use. */
function idPart(requestId: string): string {
  return requestId.replace(/[^A-Za-z0-9_]/g, "");
}

// --- stream ---

type OpenBlock =
  | { kind: "text" | "thinking"; index: number }
  | { kind: "tool_use"; index: number; toolIndex: number; id: string };

/**
 * chat.completion.chunk events → Anthropic's event sequence. One block is open at a time, as
 * Anthropic streams them: a change of kind (reasoning → text → tool call) or a new tool call
 * closes the open block and starts the next.
 */
class ChatToMessagesStream implements StreamTranslator {
  finished = false;
  readonly #ctx: TranslationContext;
  #started = false;
  #block: OpenBlock | undefined;
  #nextIndex = 0;
  #toolCalls = 0;
  #finish: unknown = undefined;
  #usage: unknown = undefined;
  #delivered = false;

  constructor(ctx: TranslationContext) {
    this.#ctx = ctx;
  }

  push(event: SseEvent): SseEvent[] {
    if (this.finished) return [];
    const out: SseEvent[] = [];
    if (!this.#started) {
      this.#started = true;
      out.push(this.#messageStart());
    }
    if (event.data.trim() === "[DONE]") {
      out.push(...this.#closeBlock(), ...this.#deliver());
      this.finished = true;
      return out;
    }
    const chunk = parseJson(event.data);
    if (!isRecord(chunk)) return out;
    if (chunk.error !== undefined || event.event === "error") {
      // The upstream reported its own failure; the client gets it as its error event, and
      // nothing after it (the upstream will not send [DONE]).
      this.finished = true;
      out.push(errorEvent(upstreamErrorType(chunk.error), errorMessageOf(500, chunk)));
      return out;
    }
    if (isRecord(chunk.usage)) this.#usage = chunk.usage;
    const choice = records(chunk.choices)[0];
    const delta = choice !== undefined && isRecord(choice.delta) ? choice.delta : {};
    const reasoning = reasoningOf(delta);
    if (reasoning !== "") {
      out.push(...this.#deltaIn("thinking", { type: "thinking_delta", thinking: reasoning }));
    }
    const text = contentText(delta.content);
    if (text !== "") out.push(...this.#deltaIn("text", { type: "text_delta", text }));
    for (const call of records(delta.tool_calls)) out.push(...this.#toolCall(call));
    if (choice !== undefined && choice.finish_reason != null && this.#finish === undefined) {
      this.#finish = choice.finish_reason;
      out.push(...this.#closeBlock());
    }
    // include_usage sends the usage after the finish chunk; some servers put it on that chunk.
    if (this.#finish !== undefined && this.#usage !== undefined) out.push(...this.#deliver());
    return out;
  }

  end(): SseEvent[] {
    return [];
  }

  fail(message: string): SseEvent[] {
    this.finished = true;
    return [errorEvent("api_error", message)];
  }

  #messageStart(): SseEvent {
    return event("message_start", {
      type: "message_start",
      message: {
        id: messageId(this.#ctx),
        type: "message",
        role: "assistant",
        model: this.#ctx.requestedModel,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        // Chat servers report usage only at the end; message_delta carries the real counts.
        usage: { input_tokens: 0, output_tokens: 0 },
      },
    });
  }

  /** A delta for a text or thinking block, opening that block first when another is open. */
  #deltaIn(kind: "text" | "thinking", delta: JsonObject): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.#block?.kind !== kind) {
      out.push(...this.#closeBlock());
      const block = kind === "text"
        ? { type: "text", text: "" }
        : { type: "thinking", thinking: "", signature: "" };
      out.push(this.#open({ kind, index: this.#nextIndex }, block));
    }
    out.push(blockDelta(this.#block!.index, delta));
    return out;
  }

  #toolCall(call: JsonObject): SseEvent[] {
    const out: SseEvent[] = [];
    const toolIndex = numberOf(call.index) ?? 0;
    const id = stringOf(call.id);
    const open = this.#block;
    // A new index starts a new call; so does a new id on the same index, as some servers
    // number every call 0.
    const isNew = open?.kind !== "tool_use" || open.toolIndex !== toolIndex ||
      (id !== undefined && id !== "" && id !== open.id);
    const fn = isRecord(call.function) ? call.function : {};
    if (isNew) {
      out.push(...this.#closeBlock());
      const useId = id || toolUseId(this.#ctx, this.#toolCalls);
      this.#toolCalls += 1;
      out.push(this.#open(
        { kind: "tool_use", index: this.#nextIndex, toolIndex, id: useId },
        { type: "tool_use", id: useId, name: stringOf(fn.name) ?? "", input: {} },
      ));
    }
    const args = stringOf(fn.arguments) ?? "";
    if (args !== "") {
      out.push(blockDelta(this.#block!.index, { type: "input_json_delta", partial_json: args }));
    }
    return out;
  }

  #open(block: OpenBlock, contentBlock: JsonObject): SseEvent {
    this.#block = block;
    this.#nextIndex += 1;
    return event("content_block_start", {
      type: "content_block_start",
      index: block.index,
      content_block: contentBlock,
    });
  }

  #closeBlock(): SseEvent[] {
    if (this.#block === undefined) return [];
    const index = this.#block.index;
    this.#block = undefined;
    return [event("content_block_stop", { type: "content_block_stop", index })];
  }

  /** message_delta (stop reason and usage) and message_stop, once. */
  #deliver(): SseEvent[] {
    if (this.#delivered) return [];
    this.#delivered = true;
    return [
      event("message_delta", {
        type: "message_delta",
        delta: { stop_reason: stopReason(this.#finish, this.#toolCalls > 0), stop_sequence: null },
        usage: messageUsage(this.#usage),
      }),
      event("message_stop", { type: "message_stop" }),
    ];
  }
}

function event(name: string, data: JsonObject): SseEvent {
  return { event: name, data: JSON.stringify(data) };
}

function blockDelta(index: number, delta: JsonObject): SseEvent {
  return event("content_block_delta", { type: "content_block_delta", index, delta });
}

function errorEvent(type: string, message: string): SseEvent {
  return event("error", anthropicError(type, message));
}

/** The Anthropic type for an error a chat server put in its stream. */
function upstreamErrorType(error: unknown): string {
  if (!isRecord(error)) return "api_error";
  const code = numberOf(error.code);
  if (code !== undefined) return anthropicErrorType(code);
  return knownAnthropicErrorType(error.type);
}
