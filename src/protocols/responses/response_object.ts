/**
 * The pieces of an OpenAI Responses `response` object built from a Chat Completions answer: the
 * envelope (ids, status, echoed request fields, usage) and its output items. Shared by the whole
 * answer and the stream, so a streamed answer ends with the same object a whole one would be.
 */
import type { TranslationContext } from "../translation.ts";
import { isRecord, type JsonObject, numberOf } from "../narrow.ts";
import { CUSTOM_TOOL_INPUT } from "./chat_request.ts";
import { type NamespacedName, requestFacts } from "./request_facts.ts";

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

/**
 * The signature of the reasoning in a chat message or delta, in OpenRouter's `reasoning_details`
 * shape (`[{type: "reasoning.text", text, signature}]`), which Chat Completions via Messages uses
 * to carry an Anthropic thinking block's signature; empty when there is none.
 */
export function chatSignature(message: JsonObject): string {
  if (!Array.isArray(message.reasoning_details)) return "";
  let out = "";
  for (const d of message.reasoning_details) {
    if (isRecord(d) && typeof d.signature === "string") out += d.signature;
  }
  return out;
}

/** An output_text content part. */
export function outputTextPart(text: string): JsonObject {
  return { type: "output_text", annotations: [], logprobs: [], text };
}

/** A reasoning_text content part. */
export function reasoningTextPart(text: string): JsonObject {
  return { type: "reasoning_text", text };
}

/** A summary_text part of a reasoning item's summary. */
export function summaryTextPart(text: string): JsonObject {
  return { type: "summary_text", text };
}

/**
 * A reasoning output item. A chat upstream's reasoning is raw text, not a summary, but clients
 * read different halves (`@ai-sdk/openai` and Codex the summary, others the content), so the text
 * is in both: `summary` as one summary_text part, `content` as one reasoning_text part. The
 * signature of an Anthropic thinking block, when there is one, rides in `encrypted_content` so it
 * comes back with the item on the next turn.
 */
export function reasoningItem(
  id: string,
  text: string | undefined,
  status: ResponseStatus,
  signature?: string,
): JsonObject {
  const item: JsonObject = {
    id,
    type: "reasoning",
    summary: text === undefined ? [] : [summaryTextPart(text)],
    content: text === undefined ? [] : [reasoningTextPart(text)],
    status,
  };
  if (signature) item.encrypted_content = signature;
  return item;
}

/** An assistant message output item. */
export function messageItem(id: string, parts: JsonObject[], status: ResponseStatus): JsonObject {
  return { id, type: "message", status, content: parts, role: "assistant" };
}

/**
 * A function_call output item. A call of a namespace tool, offered as its flat chat name, goes
 * back as Codex sent the tool: its own name, and the namespace apart.
 */
export function functionCallItem(
  id: string,
  call: { callId: string; name: string; arguments: string },
  status: ResponseStatus,
  namespaced?: ReadonlyMap<string, NamespacedName>,
): JsonObject {
  const tool = namespaced?.get(call.name);
  const item: JsonObject = {
    id,
    type: "function_call",
    status,
    arguments: call.arguments,
    call_id: call.callId,
    name: tool?.name ?? call.name,
  };
  if (tool) item.namespace = tool.namespace;
  return item;
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
