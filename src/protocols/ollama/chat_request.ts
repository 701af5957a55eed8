/**
 * Ollama's `/api/chat` and `/api/generate` requests as Chat Completions requests (SPEC §6).
 *
 * - `options`: temperature, top_p, seed, stop, presence/frequency_penalty keep their names;
 *   num_predict becomes max_tokens (its -1 "unlimited" and -2 "fill the context" are left out);
 *   top_k and min_p are sent only to servers known to take them (vLLM, llama.cpp, LM Studio),
 *   since OpenAI's API answers 400 for unknown fields and a 400 does not fail over. num_ctx and
 *   the runner options (num_gpu, num_thread, mirostat, …) have no Chat Completions field and are
 *   dropped: a context size is the server's setting (OLLAMA_CONTEXT_LENGTH on Ollama).
 * - `format`: "json" becomes `response_format: json_object`, a JSON schema `json_schema`.
 * - `images` (base64, no media type) become data-URL image parts; the type is read from the
 *   data's magic bytes.
 * - tool calls: Ollama's `arguments` are objects, OpenAI's strings; Ollama's tool results name
 *   the tool (`tool_name`) where OpenAI names the call, so each result is matched to the first
 *   unanswered call of that tool (or the next unanswered call).
 * - `think`: "high" / "medium" / "low" become `reasoning_effort`; `true`/`false` leave the
 *   model's default (and `false` drops reasoning from the answer). `keep_alive`, `logprobs`,
 *   `template`, `raw` and `context` are accepted and dropped.
 */

import { oneSystemMessage } from "../chat/system_messages.ts";
import { isRecord, type JsonObject, numberOf, records, stringOf } from "../narrow.ts";
import { type TranslationContext, TranslationError } from "../translation.ts";

/** Servers whose Chat Completions endpoint takes `top_k` and `min_p`. */
const TAKES_SAMPLING_EXTRAS = new Set(["vllm", "llamacpp", "lmstudio"]);

/** An `/api/chat` request as a Chat Completions request. */
export function ollamaChatToChat(body: JsonObject, ctx: TranslationContext): JsonObject {
  if (body.messages !== undefined && !Array.isArray(body.messages)) {
    throw new TranslationError("messages: expected an array of messages", "messages");
  }
  const messages = chatMessages(records(body.messages));
  return withOptions(body, ctx, messages);
}

/** An `/api/generate` request as a Chat Completions request: system, then the prompt as a user turn. */
export function ollamaGenerateToChat(body: JsonObject, ctx: TranslationContext): JsonObject {
  const messages: JsonObject[] = [];
  const system = stringOf(body.system);
  if (system) messages.push({ role: "system", content: system });
  const prompt = stringOf(body.prompt) ?? "";
  if (stringOf(body.suffix)) {
    throw new TranslationError(
      "suffix: fill-in-the-middle has no Chat Completions form; send the prompt without a suffix, or call the Ollama server itself",
      "suffix",
    );
  }
  messages.push({ role: "user", content: userContent(prompt, body.images) });
  return withOptions(body, ctx, messages);
}

/** The request with Ollama's options, format, tools, think and stream applied. */
function withOptions(
  body: JsonObject,
  ctx: TranslationContext,
  messages: JsonObject[],
): JsonObject {
  const out: JsonObject = {
    model: ctx.upstreamModel,
    messages: oneSystemMessage(messages, ctx.systemMessages),
  };
  const options = isRecord(body.options) ? body.options : {};
  for (const key of ["temperature", "top_p", "seed", "presence_penalty", "frequency_penalty"]) {
    if (numberOf(options[key]) !== undefined) out[key] = options[key];
  }
  if (TAKES_SAMPLING_EXTRAS.has(ctx.upstreamKind ?? "")) {
    for (const key of ["top_k", "min_p"]) {
      if (numberOf(options[key]) !== undefined) out[key] = options[key];
    }
  }
  const predict = numberOf(options.num_predict);
  if (predict !== undefined && predict > 0) out.max_tokens = predict;
  const stop = typeof options.stop === "string" ? [options.stop] : options.stop;
  if (Array.isArray(stop) && stop.length > 0) out.stop = stop.filter((s) => typeof s === "string");
  if (body.format === "json") out.response_format = { type: "json_object" };
  else if (isRecord(body.format)) {
    out.response_format = {
      type: "json_schema",
      json_schema: { name: "output", schema: body.format },
    };
  }
  const tools = records(body.tools).filter((t) => isRecord(t.function)).map((t) => ({
    type: "function",
    function: t.function,
  }));
  if (tools.length > 0) out.tools = tools;
  if (body.think === "high" || body.think === "medium" || body.think === "low") {
    out.reasoning_effort = body.think;
  }
  // Ollama streams unless told not to.
  if (body.stream !== false) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  return out;
}

/** Ollama messages as chat messages, tool results matched to the calls they answer. */
function chatMessages(messages: JsonObject[]): JsonObject[] {
  const out: JsonObject[] = [];
  /** Calls not answered yet, oldest first. */
  let open: { id: string; name: string }[] = [];
  let calls = 0;
  messages.forEach((m, i) => {
    const role = stringOf(m.role);
    const content = stringOf(m.content) ?? "";
    switch (role) {
      case "system":
        out.push({ role: "system", content });
        return;
      case "user":
        out.push({ role: "user", content: userContent(content, m.images) });
        return;
      case "assistant": {
        const toolCalls = records(m.tool_calls).map((call) => {
          const fn = isRecord(call.function) ? call.function : {};
          const id = stringOf(call.id) || `call_${calls}`;
          calls++;
          const name = stringOf(fn.name) ?? "";
          open.push({ id, name });
          const args = fn.arguments;
          return {
            id,
            type: "function",
            function: {
              name,
              arguments: typeof args === "string"
                ? args
                : JSON.stringify(isRecord(args) ? args : {}),
            },
          };
        });
        if (toolCalls.length === 0) out.push({ role: "assistant", content });
        else out.push({ role: "assistant", content: content || null, tool_calls: toolCalls });
        return;
      }
      case "tool": {
        const id = stringOf(m.tool_call_id);
        const name = stringOf(m.tool_name) ?? stringOf(m.name);
        const match = open.find((c) => c.id === id) ?? open.find((c) => c.name === name) ??
          open[0];
        if (match) open = open.filter((c) => c !== match);
        out.push({ role: "tool", tool_call_id: id ?? match?.id ?? "", content });
        return;
      }
      default:
        throw new TranslationError(
          `messages[${i}].role: ${
            JSON.stringify(m.role)
          } is not one of system, user, assistant, tool`,
          `messages[${i}].role`,
        );
    }
  });
  return out;
}

/** A user turn's content: its text, with its images as data-URL parts after it. */
function userContent(text: string, images: unknown): string | JsonObject[] {
  const pictures = Array.isArray(images) ? images.filter((x) => typeof x === "string") : [];
  if (pictures.length === 0) return text;
  const parts: JsonObject[] = [];
  if (text !== "") parts.push({ type: "text", text });
  for (const data of pictures) {
    const url = data.startsWith("data:") ? data : `data:${imageType(data)};base64,${data}`;
    parts.push({ type: "image_url", image_url: { url } });
  }
  return parts;
}

/** The media type of base64 image data, from its first bytes; PNG when unknown. */
export function imageType(base64: string): string {
  if (base64.startsWith("/9j/")) return "image/jpeg";
  if (base64.startsWith("R0lGOD")) return "image/gif";
  if (base64.startsWith("UklGR")) return "image/webp";
  return "image/png";
}
