/**
 * The pieces of an OpenAI Responses `response` object built from a Chat Completions answer: the
 * envelope (ids, status, echoed request fields, usage) and its output items. Shared by the whole
 * answer and the stream, so a streamed answer ends with the same object a whole one would be.
 */
import type { TranslationContext } from "../translation.ts";
import { isRecord, type JsonObject, numberOf } from "../narrow.ts";
import { CUSTOM_TOOL_INPUT } from "./chat_request.ts";
import { requestFacts } from "./request_facts.ts";

/** The lifecycle states of a Responses object. */
export type ResponseStatus = "in_progress" | "completed" | "incomplete" | "failed";

/** The parts of a response object that differ between answers. */
export interface ResponseParts {
  status: ResponseStatus;
  output: JsonObject[];
  usage?: JsonObject;
  /** why an incomplete response stopped: `max_output_tokens` or `content_filter` */
  incompleteReason?: string;
  error?: { code: string; message: string };
}

/** The id BitRouter gives a response: `resp_` and the request id (letters and digits only). */
export function responseId(ctx: TranslationContext): string {
  return `resp_${idPart(ctx)}`;
}

/** The id of the output item at index, with the Responses API's prefix for its type. */
export function itemId(
  prefix: "msg" | "rs" | "fc" | "ctc",
  ctx: TranslationContext,
  index: number,
) {
  return `${prefix}_${idPart(ctx)}_${index}`;
}

/** The call id for a tool call the upstream sent without one (some local servers do). */
export function fallbackCallId(ctx: TranslationContext, index: number): string {
  return `call_${idPart(ctx)}_${index}`;
}

function idPart(ctx: TranslationContext): string {
  return ctx.requestId.replace(/[^A-Za-z0-9]/g, "") || "0";
}

/** A whole Responses object, with the request's echoed fields (SDK types expect them). */
export function responseObject(ctx: TranslationContext, parts: ResponseParts): JsonObject {
  return {
    id: responseId(ctx),
    object: "response",
    created_at: ctx.nowSecs,
    status: parts.status,
    background: false,
    error: parts.error ?? null,
    incomplete_details: parts.incompleteReason ? { reason: parts.incompleteReason } : null,
    model: ctx.requestedModel,
    output: parts.output,
    ...requestFacts(ctx).echo,
    usage: parts.usage ?? null,
  };
}

/** Responses usage for Chat Completions usage; undefined when the upstream sent none. */
export function responsesUsage(usage: unknown): JsonObject | undefined {
  if (!isRecord(usage)) return undefined;
  const input = numberOf(usage.prompt_tokens) ?? 0;
  const output = numberOf(usage.completion_tokens) ?? 0;
  const promptDetails = isRecord(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {};
  const completionDetails = isRecord(usage.completion_tokens_details)
    ? usage.completion_tokens_details
    : {};
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: numberOf(promptDetails.cached_tokens) ?? 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: numberOf(completionDetails.reasoning_tokens) ?? 0 },
    total_tokens: numberOf(usage.total_tokens) ?? input + output,
  };
}

/** The Responses status and incomplete reason for a Chat Completions finish_reason. */
export function statusFor(finishReason: unknown): { status: ResponseStatus; reason?: string } {
  if (finishReason === "length") return { status: "incomplete", reason: "max_output_tokens" };
  if (finishReason === "content_filter") return { status: "incomplete", reason: "content_filter" };
  return { status: "completed" };
}

/** The reasoning text of a chat message or delta: `reasoning_content` (DeepSeek, vLLM) or `reasoning` (Ollama, newer vLLM). */
export function chatReasoning(message: JsonObject): string {
  if (typeof message.reasoning_content === "string") return message.reasoning_content;
  if (typeof message.reasoning === "string") return message.reasoning;
  return "";
}

/** An output_text content part. */
export function outputTextPart(text: string): JsonObject {
  return { type: "output_text", annotations: [], logprobs: [], text };
}

/** A reasoning_text content part. */
export function reasoningTextPart(text: string): JsonObject {
  return { type: "reasoning_text", text };
}

/** A reasoning output item holding raw reasoning text (a chat upstream has no summaries). */
export function reasoningItem(id: string, parts: JsonObject[], status: ResponseStatus): JsonObject {
  return { id, type: "reasoning", summary: [], content: parts, status };
}

/** An assistant message output item. */
export function messageItem(id: string, parts: JsonObject[], status: ResponseStatus): JsonObject {
  return { id, type: "message", status, content: parts, role: "assistant" };
}

/** A function_call output item. */
export function functionCallItem(
  id: string,
  call: { callId: string; name: string; arguments: string },
  status: ResponseStatus,
): JsonObject {
  return {
    id,
    type: "function_call",
    status,
    arguments: call.arguments,
    call_id: call.callId,
    name: call.name,
  };
}

/** A custom_tool_call output item (a freeform tool's call, its raw input text). */
export function customToolCallItem(
  id: string,
  call: { callId: string; name: string; input: string },
  status: ResponseStatus,
): JsonObject {
  return {
    id,
    type: "custom_tool_call",
    status,
    call_id: call.callId,
    name: call.name,
    input: call.input,
  };
}

/**
 * The freeform input in the arguments a chat model wrote for a custom tool: the `input` string
 * when the arguments are `{"input": "..."}`, else the arguments as written (a model that ignored
 * the schema and wrote the patch bare still gets its text through).
 */
export function customToolInput(args: string): string {
  try {
    const parsed: unknown = JSON.parse(args);
    if (isRecord(parsed) && typeof parsed[CUSTOM_TOOL_INPUT] === "string") {
      return parsed[CUSTOM_TOOL_INPUT] as string;
    }
  } catch {
    // not JSON: the raw text is the input
  }
  return args;
}
