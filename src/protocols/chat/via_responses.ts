/**
 * Chat Completions client → OpenAI Responses upstream (SPEC §6): a provider with
 * `api_protocol: responses` (OpenAI's newest models, a Responses-only gateway) serving a chat
 * client, and through Chat Completions every other client (Messages, Ollama's, Gemini's API).
 * The request becomes a Responses request with the whole conversation as `input` and
 * `store: false` (a chat client never continues a stored response); the Responses object (whole
 * or its event stream) becomes a chat.completion (or its chunks).
 *
 * Dropped, having no Responses counterpart: `stop`, penalties, `seed`, `logit_bias`, `logprobs`,
 * `stream_options` (usage is always sent at the end of a stream). Refused with 400: `n` > 1.
 */
import { ChatChunks, completionId } from "./chunks.ts";
import { errorMessageOf } from "../error_message.ts";
import { openaiErrorBody } from "../openai_error.ts";
import {
  compact,
  isRecord,
  type JsonObject,
  numberOf,
  parseJson,
  records,
  stringOf,
} from "../narrow.ts";
import {
  type SseEvent,
  type StreamTranslator,
  type Translation,
  type TranslationContext,
  TranslationError,
} from "../translation.ts";

/** Chat Completions client, Responses upstream. */
export const chatViaResponses: Translation = {
  request: responsesRequest,
  response: chatAnswer,
  stream: (ctx) => new ResponsesToChatStream(ctx),
  error: openaiErrorBody,
};

/** Same-named fields with the same meaning in both APIs. */
const SAME_NAMED = [
  "temperature",
  "top_p",
  "user",
  "safety_identifier",
  "prompt_cache_key",
  "service_tier",
  "parallel_tool_calls",
  "metadata",
];

// --- request ---

function responsesRequest(body: JsonObject, ctx: TranslationContext): JsonObject {
  if (!Array.isArray(body.messages)) {
    throw new TranslationError("messages: expected an array of messages", "messages");
  }
  const n = numberOf(body.n);
  if (n !== undefined && n > 1) {
    throw new TranslationError(
      "n: a Responses provider answers one choice per request; send n separate requests instead",
      "n",
    );
  }
  const input: JsonObject[] = [];
  for (const message of records(body.messages)) input.push(...inputItems(message));
  const out: JsonObject = { model: ctx.upstreamModel, input, store: false };
  for (const key of SAME_NAMED) if (body[key] !== undefined) out[key] = body[key];
  const maxTokens = numberOf(body.max_completion_tokens) ?? numberOf(body.max_tokens);
  if (maxTokens !== undefined) out.max_output_tokens = maxTokens;
  const tools = records(body.tools).filter((t) => isRecord(t.function)).map(responsesTool);
  if (tools.length > 0) {
    out.tools = tools;
    const choice = responsesToolChoice(body.tool_choice);
    if (choice !== undefined) out.tool_choice = choice;
  }
  const format = responsesFormat(body.response_format);
  if (format) out.text = { format };
  const effort = stringOf(body.reasoning_effort);
  if (effort) out.reasoning = { effort };
  if (body.stream === true) out.stream = true;
  return out;
}

/** The Responses input items one chat message becomes. */
function inputItems(message: JsonObject): JsonObject[] {
  const role = stringOf(message.role);
  switch (role) {
    case "system":
    case "developer":
    case "user":
      return [{ type: "message", role, content: inputContent(message.content) }];
    case "assistant": {
      const out: JsonObject[] = [];
      const text = textOf(message.content);
      if (text !== "") {
        out.push({
          type: "message",
          role: "assistant",
          content: [{ type: "output_text", text, annotations: [] }],
        });
      }
      for (const call of records(message.tool_calls)) {
        const fn = isRecord(call.function) ? call.function : {};
        out.push({
          type: "function_call",
          call_id: stringOf(call.id) ?? "",
          name: stringOf(fn.name) ?? "",
          arguments: stringOf(fn.arguments) ?? "{}",
        });
      }
      return out;
    }
    case "tool":
      return [{
        type: "function_call_output",
        call_id: stringOf(message.tool_call_id) ?? "",
        output: textOf(message.content),
      }];
    default:
      throw new TranslationError(
        `messages: role ${JSON.stringify(message.role)} cannot be sent to a Responses provider`,
        "messages",
      );
  }
}

function inputContent(content: unknown): string | JsonObject[] {
  if (typeof content === "string") return content;
  const parts: JsonObject[] = [];
  for (const part of records(content)) {
    if (part.type === "text") parts.push({ type: "input_text", text: stringOf(part.text) ?? "" });
    else if (part.type === "image_url") {
      const image = part.image_url;
      const url = typeof image === "string" ? image : isRecord(image) ? stringOf(image.url) : "";
      const detail = isRecord(image) ? stringOf(image.detail) : undefined;
      parts.push({ type: "input_image", image_url: url ?? "", detail: detail ?? "auto" });
    } else if (part.type === "file" && isRecord(part.file)) {
      parts.push(compact({
        type: "input_file",
        file_data: stringOf(part.file.file_data),
        file_id: stringOf(part.file.file_id),
        filename: stringOf(part.file.filename),
      }));
    } else {
      throw new TranslationError(
        `messages: a ${String(part.type)} part cannot be sent to a Responses provider`,
        "messages",
      );
    }
  }
  return parts;
}

/** The text of string content or of text parts. */
function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  return records(content).map((p) => stringOf(p.text) ?? stringOf(p.refusal) ?? "").join("");
}

function responsesTool(tool: JsonObject): JsonObject {
  const fn = tool.function as JsonObject;
  return compact({
    type: "function",
    name: stringOf(fn.name) ?? "",
    description: stringOf(fn.description),
    parameters: isRecord(fn.parameters) ? fn.parameters : { type: "object", properties: {} },
    strict: typeof fn.strict === "boolean" ? fn.strict : false,
  });
}

function responsesToolChoice(choice: unknown): unknown {
  if (choice === "auto" || choice === "none" || choice === "required") return choice;
  if (isRecord(choice) && isRecord(choice.function)) {
    return { type: "function", name: stringOf(choice.function.name) ?? "" };
  }
  return undefined;
}

function responsesFormat(format: unknown): JsonObject | undefined {
  if (!isRecord(format)) return undefined;
  if (format.type === "json_object") return { type: "json_object" };
  if (format.type !== "json_schema" || !isRecord(format.json_schema)) return undefined;
  const schema = format.json_schema;
  return compact({
    type: "json_schema",
    name: stringOf(schema.name) ?? "response",
    description: stringOf(schema.description),
    schema: isRecord(schema.schema) ? schema.schema : undefined,
    strict: typeof schema.strict === "boolean" ? schema.strict : undefined,
  });
}

// --- whole answer ---

function chatAnswer(body: unknown, ctx: TranslationContext): JsonObject {
  const response = isRecord(body) ? body : {};
  const texts: string[] = [];
  const reasoning: string[] = [];
  const refusals: string[] = [];
  const toolCalls: JsonObject[] = [];
  for (const item of records(response.output)) {
    if (item.type === "message") {
      for (const part of records(item.content)) {
        if (part.type === "output_text") texts.push(stringOf(part.text) ?? "");
        if (part.type === "refusal") refusals.push(stringOf(part.refusal) ?? "");
      }
    } else if (item.type === "reasoning") {
      reasoning.push(reasoningText(item));
    } else if (item.type === "function_call") {
      toolCalls.push({
        id: stringOf(item.call_id) ?? "",
        type: "function",
        function: { name: stringOf(item.name) ?? "", arguments: stringOf(item.arguments) ?? "" },
      });
    }
  }
  const message: JsonObject = {
    role: "assistant",
    content: texts.length > 0 ? texts.join("") : null,
  };
  if (refusals.length > 0) message.refusal = refusals.join("");
  const thought = reasoning.join("");
  if (thought !== "") message.reasoning_content = thought;
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
      finish_reason: finishReason(response, toolCalls.length > 0),
    }],
    usage: chatUsage(response.usage),
  };
}

/** A reasoning item's text: its summary, else its raw reasoning text. */
function reasoningText(item: JsonObject): string {
  const summary = records(item.summary).map((p) => stringOf(p.text) ?? "").join("\n\n");
  if (summary !== "") return summary;
  return records(item.content).map((p) => stringOf(p.text) ?? "").join("");
}

function finishReason(response: JsonObject, calledTools: boolean): string {
  const reason = isRecord(response.incomplete_details)
    ? response.incomplete_details.reason
    : undefined;
  if (reason === "max_output_tokens") return "length";
  if (reason === "content_filter") return "content_filter";
  return calledTools ? "tool_calls" : "stop";
}

function chatUsage(usage: unknown): JsonObject | undefined {
  if (!isRecord(usage)) return undefined;
  const prompt = numberOf(usage.input_tokens) ?? 0;
  const completion = numberOf(usage.output_tokens) ?? 0;
  const input = isRecord(usage.input_tokens_details) ? usage.input_tokens_details : {};
  const output = isRecord(usage.output_tokens_details) ? usage.output_tokens_details : {};
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: numberOf(usage.total_tokens) ?? prompt + completion,
    prompt_tokens_details: { cached_tokens: numberOf(input.cached_tokens) ?? 0 },
    completion_tokens_details: { reasoning_tokens: numberOf(output.reasoning_tokens) ?? 0 },
  };
}

// --- stream ---

/** Responses events → chat.completion.chunk events, then `[DONE]`. */
class ResponsesToChatStream implements StreamTranslator {
  finished = false;
  readonly #ctx: TranslationContext;
  readonly #chunks: ChatChunks;
  #started = false;
  /** tool call index by the function_call item's id */
  readonly #tools = new Map<string, number>();
  /** reasoning items whose summary is streamed: their raw reasoning_text would repeat it */
  readonly #summarized = new Set<string>();

  constructor(ctx: TranslationContext) {
    this.#chunks = new ChatChunks(ctx);
    this.#ctx = ctx;
  }

  push(event: SseEvent): SseEvent[] {
    if (this.finished) return [];
    const data = parseJson(event.data);
    if (!isRecord(data)) return [];
    const type = stringOf(data.type) ?? event.event;
    const out = this.#start();
    switch (type) {
      case "response.output_text.delta":
      case "response.refusal.delta": {
        const delta = stringOf(data.delta) ?? "";
        if (delta !== "") {
          out.push(
            this.#chunks.chunk(type.includes("refusal") ? { refusal: delta } : { content: delta }),
          );
        }
        break;
      }
      case "response.reasoning_summary_text.delta":
        this.#summarized.add(stringOf(data.item_id) ?? "");
        out.push(this.#chunks.chunk({ reasoning_content: stringOf(data.delta) ?? "" }));
        break;
      case "response.reasoning_text.delta":
        if (!this.#summarized.has(stringOf(data.item_id) ?? "")) {
          out.push(this.#chunks.chunk({ reasoning_content: stringOf(data.delta) ?? "" }));
        }
        break;
      case "response.output_item.added": {
        const item = isRecord(data.item) ? data.item : {};
        if (item.type !== "function_call") break;
        const index = this.#tools.size;
        this.#tools.set(stringOf(item.id) ?? String(index), index);
        out.push(this.#chunks.chunk({
          tool_calls: [{
            index,
            id: stringOf(item.call_id) ?? "",
            type: "function",
            function: { name: stringOf(item.name) ?? "", arguments: "" },
          }],
        }));
        break;
      }
      case "response.function_call_arguments.delta": {
        const index = this.#tools.get(stringOf(data.item_id) ?? "");
        const delta = stringOf(data.delta) ?? "";
        if (index !== undefined && delta !== "") {
          out.push(this.#chunks.chunk({ tool_calls: [{ index, function: { arguments: delta } }] }));
        }
        break;
      }
      case "response.completed":
      case "response.incomplete": {
        const response = isRecord(data.response) ? data.response : {};
        this.finished = true;
        out.push(this.#chunks.chunk({}, finishReason(response, this.#tools.size > 0)));
        const usage = chatUsage(response.usage);
        if (usage) out.push(this.#chunks.usage(usage));
        out.push({ data: "[DONE]" });
        break;
      }
      case "response.failed":
      case "error": {
        this.finished = true;
        const response = isRecord(data.response) ? data.response : undefined;
        const error = isRecord(response?.error) ? response.error : data;
        out.push(errorChunk(
          stringOf(error.message) ?? errorMessageOf(500, data),
          stringOf(error.code) ?? "upstream_error",
        ));
        break;
      }
    }
    return out;
  }

  end(): SseEvent[] {
    return [];
  }

  fail(message: string): SseEvent[] {
    this.finished = true;
    return [errorChunk(message, "stream_interrupted")];
  }

  #start(): SseEvent[] {
    if (this.#started) return [];
    this.#started = true;
    return [this.#chunks.chunk({ role: "assistant", content: "" })];
  }
}

function errorChunk(message: string, code: string): SseEvent {
  return {
    data: JSON.stringify({ error: { message, type: "upstream_error", code, param: null } }),
  };
}
