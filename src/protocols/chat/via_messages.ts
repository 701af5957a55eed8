/**
 * Chat Completions client → Anthropic Messages upstream (SPEC §6): an OpenAI client (SDK, editor
 * plugin, Codex in chat mode) using a hosted Claude model. The request becomes a Messages
 * request; the `message` (whole or streamed) becomes a chat.completion (or its chunks).
 *
 * Chat-only knobs Anthropic has no form for (penalties, logit_bias, seed, logprobs, n = 1,
 * stream_options, store, service_tier, reasoning_effort, json_object mode) are dropped; what
 * cannot be honoured without changing the answer (n > 1, audio, unparseable tool arguments) is a
 * TranslationError, answered 400.
 */

import { ChatChunks, completionId } from "./chunks.ts";
import { errorMessageOf } from "../error_message.ts";
import { openaiErrorBody } from "../openai_error.ts";
import { readAnthropicError } from "../messages/errors.ts";
import { isRecord, type JsonObject, numberOf, parseJson, records, stringOf } from "../narrow.ts";
import {
  type SseEvent,
  type StreamTranslator,
  type Translation,
  type TranslationContext,
  TranslationError,
} from "../translation.ts";

/** Chat Completions client, Anthropic Messages upstream. */
export const chatViaMessages: Translation = {
  request: messagesRequest,
  response: chatAnswer,
  stream: (ctx) => new MessagesToChatStream(ctx),
  error: chatError,
};

/**
 * Anthropic requires max_tokens; OpenAI clients usually leave it out. 4096 is the largest value
 * every Claude model accepts (Claude 3 Haiku and Opus stop there), so no model answers 400 for
 * it; a client that wants longer answers sets max_tokens or max_completion_tokens.
 */
export const DEFAULT_MAX_TOKENS = 4096;

// --- request ---

function messagesRequest(body: JsonObject, ctx: TranslationContext): JsonObject {
  if (!Array.isArray(body.messages)) {
    throw new TranslationError("messages: expected an array of messages", "messages");
  }
  const n = numberOf(body.n);
  if (n !== undefined && n > 1) {
    throw new TranslationError(
      "n: Anthropic models answer one choice per request; send n separate requests instead",
      "n",
    );
  }
  const system: JsonObject[] = [];
  const turns: Turn[] = [];
  records(body.messages).forEach((message, i) => {
    const role = stringOf(message.role);
    if (role === "system" || role === "developer") {
      for (const text of textParts(message.content, i)) system.push({ type: "text", text });
      return;
    }
    const turn = anthropicTurn(message, i);
    if (turn.content.length === 0) return;
    const last = turns.at(-1);
    // Anthropic wants user and assistant to alternate; chat allows runs of either.
    if (last !== undefined && last.role === turn.role) {
      last.content.push(...turn.content);
    } else {
      turns.push(turn);
    }
  });

  const out: JsonObject = {
    model: ctx.upstreamModel,
    max_tokens: numberOf(body.max_completion_tokens) ?? numberOf(body.max_tokens) ??
      DEFAULT_MAX_TOKENS,
    messages: turns,
  };
  if (system.length === 1) out.system = system[0].text;
  else if (system.length > 1) out.system = system;
  const stop = typeof body.stop === "string" ? [body.stop] : body.stop;
  if (Array.isArray(stop) && stop.length > 0) out.stop_sequences = stop;
  const temperature = numberOf(body.temperature);
  // OpenAI allows 0–2, Anthropic 0–1.
  if (temperature !== undefined) out.temperature = Math.min(1, Math.max(0, temperature));
  if (numberOf(body.top_p) !== undefined) out.top_p = body.top_p;
  const tools = records(body.tools).map(anthropicTool);
  if (tools.length > 0) {
    out.tools = tools;
    const choice = anthropicToolChoice(body.tool_choice, body.parallel_tool_calls);
    if (choice !== undefined) out.tool_choice = choice;
  }
  const format = isRecord(body.response_format) ? body.response_format : undefined;
  if (format?.type === "json_schema" && isRecord(format.json_schema)) {
    const schema = format.json_schema.schema;
    if (isRecord(schema)) out.output_config = { format: { type: "json_schema", schema } };
  }
  if (typeof body.user === "string") out.metadata = { user_id: body.user };
  if (body.stream === true) out.stream = true;
  return out;
}

interface Turn {
  role: "user" | "assistant";
  content: JsonObject[];
}

function anthropicTurn(message: JsonObject, i: number): Turn {
  switch (message.role) {
    case "user":
      return { role: "user", content: userBlocks(message.content, i) };
    case "assistant":
      return { role: "assistant", content: assistantBlocks(message, i) };
    case "tool":
      return {
        role: "user",
        content: [{
          type: "tool_result",
          tool_use_id: stringOf(message.tool_call_id) ?? "",
          content: textParts(message.content, i).join(""),
        }],
      };
    default:
      throw new TranslationError(
        `messages[${i}].role: ${JSON.stringify(message.role)} cannot be sent to an Anthropic model`,
        `messages[${i}].role`,
      );
  }
}

function userBlocks(content: unknown, i: number): JsonObject[] {
  if (typeof content === "string") return content === "" ? [] : [{ type: "text", text: content }];
  const blocks: JsonObject[] = [];
  records(content).forEach((part, j) => {
    if (part.type === "text") {
      // Anthropic refuses empty text blocks.
      if (typeof part.text === "string" && part.text !== "") {
        blocks.push({ type: "text", text: part.text });
      }
    } else if (part.type === "image_url") {
      blocks.push(imageBlock(part, `messages[${i}].content[${j}]`));
    } else {
      throw new TranslationError(
        `messages[${i}].content[${j}]: a ${
          String(part.type)
        } part cannot be sent to an Anthropic model`,
        `messages[${i}].content[${j}].type`,
      );
    }
  });
  return blocks;
}

function imageBlock(part: JsonObject, where: string): JsonObject {
  const image = part.image_url;
  const url = typeof image === "string" ? image : isRecord(image) ? stringOf(image.url) : undefined;
  const data = url?.match(/^data:([^;,]+);base64,(.*)$/s);
  if (data) {
    return { type: "image", source: { type: "base64", media_type: data[1], data: data[2] } };
  }
  if (url !== undefined && /^https?:\/\//i.test(url)) {
    return { type: "image", source: { type: "url", url } };
  }
  throw new TranslationError(
    `${where}.image_url: expected a data: URL or an http(s) URL`,
    `${where}.image_url`,
  );
}

function assistantBlocks(message: JsonObject, i: number): JsonObject[] {
  const blocks: JsonObject[] = [];
  const thinking = signedThinking(message);
  if (thinking) blocks.push(thinking);
  for (const text of textParts(message.content, i)) {
    if (text !== "") blocks.push({ type: "text", text });
  }
  records(message.tool_calls).forEach((call, j) => {
    const fn = isRecord(call.function) ? call.function : {};
    const name = stringOf(fn.name) ?? "";
    const args = stringOf(fn.arguments) ?? "";
    const input = args.trim() === "" ? {} : parseJson(args);
    if (!isRecord(input)) {
      throw new TranslationError(
        `messages[${i}].tool_calls[${j}] (${name} ${
          stringOf(call.id) ?? ""
        }): arguments are not a JSON object`,
        `messages[${i}].tool_calls[${j}].function.arguments`,
      );
    }
    blocks.push({ type: "tool_use", id: stringOf(call.id) ?? "", name, input });
  });
  return blocks;
}

/**
 * The thinking block of an assistant message that carries its signature (OpenRouter's
 * `reasoning_details`, as this translation answers): Anthropic wants it back unchanged, first in
 * the turn, when thinking is on and the turn called tools. Without a signature it is dropped.
 */
function signedThinking(message: JsonObject): JsonObject | undefined {
  let signature = "";
  let text = "";
  for (const d of records(message.reasoning_details)) {
    if (typeof d.signature === "string") signature += d.signature;
    if (typeof d.text === "string") text += d.text;
  }
  if (signature === "") return undefined;
  const thinking = stringOf(message.reasoning_content) ?? stringOf(message.reasoning) ?? text;
  return { type: "thinking", thinking, signature };
}

/** The texts of string content or of text (and refusal) parts; other parts are an error. */
function textParts(content: unknown, i: number): string[] {
  if (typeof content === "string") return [content];
  if (content == null) return [];
  return records(content).map((part, j) => {
    const text = stringOf(part.text) ?? stringOf(part.refusal);
    if (text === undefined) {
      throw new TranslationError(
        `messages[${i}].content[${j}]: a ${String(part.type)} part cannot be sent here`,
        `messages[${i}].content[${j}].type`,
      );
    }
    return text;
  });
}

function anthropicTool(tool: JsonObject, i: number): JsonObject {
  if (tool.type !== "function" || !isRecord(tool.function)) {
    throw new TranslationError(
      `tools[${i}]: only function tools can be sent to an Anthropic model`,
      `tools[${i}].type`,
    );
  }
  const fn = tool.function;
  const out: JsonObject = { name: stringOf(fn.name) ?? "" };
  if (typeof fn.description === "string") out.description = fn.description;
  // A function without parameters takes none; Anthropic still wants a schema.
  out.input_schema = isRecord(fn.parameters) ? fn.parameters : { type: "object", properties: {} };
  return out;
}

function anthropicToolChoice(choice: unknown, parallel: unknown): JsonObject | undefined {
  let out: JsonObject | undefined;
  if (choice === "auto") out = { type: "auto" };
  else if (choice === "required") out = { type: "any" };
  else if (choice === "none") return { type: "none" };
  else if (isRecord(choice) && isRecord(choice.function)) {
    out = { type: "tool", name: stringOf(choice.function.name) ?? "" };
  }
  if (parallel === false) out = { ...(out ?? { type: "auto" }), disable_parallel_tool_use: true };
  return out;
}

// --- whole answer ---

function chatAnswer(body: unknown, ctx: TranslationContext): JsonObject {
  const answer = isRecord(body) ? body : {};
  const texts: string[] = [];
  const thinking: string[] = [];
  const signatures: string[] = [];
  const toolCalls: JsonObject[] = [];
  for (const block of records(answer.content)) {
    if (block.type === "text") texts.push(stringOf(block.text) ?? "");
    if (block.type === "thinking") {
      thinking.push(stringOf(block.thinking) ?? "");
      if (typeof block.signature === "string") signatures.push(block.signature);
    }
    if (block.type === "tool_use") {
      toolCalls.push({
        id: stringOf(block.id) ?? "",
        type: "function",
        function: {
          name: stringOf(block.name) ?? "",
          arguments: JSON.stringify(block.input ?? {}),
        },
      });
    }
  }
  const message: JsonObject = {
    role: "assistant",
    content: texts.length > 0 ? texts.join("") : null,
  };
  if (thinking.length > 0) message.reasoning_content = thinking.join("");
  if (signatures.length > 0) {
    // OpenRouter's shape: the signature must come back with the thinking on the next turn.
    message.reasoning_details = [{
      type: "reasoning.text",
      text: thinking.join(""),
      signature: signatures.join(""),
      format: "anthropic-claude-v1",
      index: 0,
    }];
  }
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return {
    id: completionId(ctx),
    object: "chat.completion",
    created: ctx.nowSecs,
    model: ctx.requestedModel,
    choices: [{
      index: 0,
      message,
      logprobs: null,
      finish_reason: finishReason(answer.stop_reason),
    }],
    usage: chatUsage(answer.usage),
  };
}

function finishReason(stop: unknown): string {
  switch (stop) {
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "tool_use":
      return "tool_calls";
    case "refusal":
      return "content_filter";
    default:
      // end_turn, stop_sequence, pause_turn
      return "stop";
  }
}

/** Chat usage: OpenAI's prompt_tokens include the cached part Anthropic counts apart. */
function chatUsage(usage: unknown, inputFallback?: JsonObject): JsonObject {
  const u = isRecord(usage) ? usage : {};
  const from = inputFallback ?? u;
  const read = numberOf(u.cache_read_input_tokens) ?? numberOf(from.cache_read_input_tokens) ?? 0;
  const created = numberOf(u.cache_creation_input_tokens) ??
    numberOf(from.cache_creation_input_tokens) ?? 0;
  const input = numberOf(u.input_tokens) ?? numberOf(from.input_tokens) ?? 0;
  const prompt = input + read + created;
  const completion = numberOf(u.output_tokens) ?? 0;
  const out: JsonObject = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
  };
  if (read > 0) out.prompt_tokens_details = { cached_tokens: read };
  return out;
}

// --- errors ---

const OPENAI_TYPES: Record<string, string> = {
  invalid_request_error: "invalid_request_error",
  request_too_large: "invalid_request_error",
  authentication_error: "authentication_error",
  permission_error: "permission_error",
  not_found_error: "not_found_error",
  rate_limit_error: "rate_limit_error",
};

/** The OpenAI envelope for an Anthropic error; `code` keeps Anthropic's own type. */
function openaiError(type: string, message: string): JsonObject {
  return {
    error: { message, type: OPENAI_TYPES[type] ?? "server_error", code: type, param: null },
  };
}

function chatError(status: number, body: unknown): JsonObject {
  const known = readAnthropicError(body);
  return known ? openaiError(known.type, known.message) : openaiErrorBody(status, body);
}

// --- stream ---

/** Anthropic's event sequence → chat.completion.chunk events. */
class MessagesToChatStream implements StreamTranslator {
  finished = false;
  readonly #ctx: TranslationContext;
  readonly #chunks: ChatChunks;
  #startUsage: JsonObject = {};
  #toolIndex = -1;
  #blockIsTool = false;

  constructor(ctx: TranslationContext) {
    this.#chunks = new ChatChunks(ctx);
    this.#ctx = ctx;
  }

  push(event: SseEvent): SseEvent[] {
    if (this.finished) return [];
    const data = parseJson(event.data);
    if (!isRecord(data)) return [];
    const type = stringOf(data.type) ?? event.event;
    switch (type) {
      case "message_start": {
        const message = isRecord(data.message) ? data.message : {};
        if (isRecord(message.usage)) this.#startUsage = message.usage;
        return [this.#chunks.chunk({ role: "assistant", content: "" })];
      }
      case "content_block_start":
        return this.#blockStart(isRecord(data.content_block) ? data.content_block : {});
      case "content_block_delta":
        return this.#blockDelta(isRecord(data.delta) ? data.delta : {});
      case "content_block_stop":
        this.#blockIsTool = false;
        return [];
      case "message_delta": {
        const delta = isRecord(data.delta) ? data.delta : {};
        return [
          this.#chunks.chunk({}, finishReason(delta.stop_reason)),
          this.#usageChunk(chatUsage(data.usage, this.#startUsage)),
        ];
      }
      case "message_stop":
        this.finished = true;
        return [{ data: "[DONE]" }];
      case "error": {
        // The upstream's own failure is the client's error event, and the stream's end.
        this.finished = true;
        const error = readAnthropicError(data) ??
          { type: "api_error", message: errorMessageOf(500, data) };
        return [{ data: JSON.stringify(openaiError(error.type, error.message)) }];
      }
      default:
        // ping (a keep-alive, never content) and event types added later.
        return [];
    }
  }

  end(): SseEvent[] {
    return [];
  }

  fail(message: string): SseEvent[] {
    this.finished = true;
    return [{
      data: JSON.stringify({
        error: { message, type: "upstream_error", code: "stream_interrupted", param: null },
      }),
    }];
  }

  #blockStart(block: JsonObject): SseEvent[] {
    if (block.type === "tool_use") {
      this.#toolIndex += 1;
      this.#blockIsTool = true;
      return [this.#chunks.chunk({
        tool_calls: [{
          index: this.#toolIndex,
          id: stringOf(block.id) ?? "",
          type: "function",
          function: { name: stringOf(block.name) ?? "", arguments: "" },
        }],
      })];
    }
    // A text block may start with text already in it.
    if (block.type === "text" && typeof block.text === "string" && block.text !== "") {
      return [this.#chunks.chunk({ content: block.text })];
    }
    return [];
  }

  #blockDelta(delta: JsonObject): SseEvent[] {
    switch (delta.type) {
      case "text_delta":
        return [this.#chunks.chunk({ content: stringOf(delta.text) ?? "" })];
      case "thinking_delta":
        return [this.#chunks.chunk({ reasoning_content: stringOf(delta.thinking) ?? "" })];
      case "signature_delta":
        return [this.#chunks.chunk({
          reasoning_details: [{
            type: "reasoning.text",
            signature: stringOf(delta.signature) ?? "",
            format: "anthropic-claude-v1",
            index: 0,
          }],
        })];
      case "input_json_delta": {
        const partial = stringOf(delta.partial_json) ?? "";
        if (!this.#blockIsTool || partial === "") return [];
        return [this.#chunks.chunk({
          tool_calls: [{ index: this.#toolIndex, function: { arguments: partial } }],
        })];
      }
      default:
        // citations_delta: nothing a chat client can use.
        return [];
    }
  }

  #usageChunk(usage: JsonObject): SseEvent {
    return this.#chunks.usage(usage);
  }
}
