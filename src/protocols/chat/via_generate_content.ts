/**
 * Chat Completions client → Gemini `generateContent` upstream (SPEC §6): an OpenAI client (and,
 * composed, Messages, Responses, Ollama and Gemini-via-chat clients) using Google's native API.
 * The model and whether to stream are in Gemini's URL, not its body (see upstreamPath in
 * config/protocol.ts), so the request body carries neither.
 *
 * - system/developer messages become `systemInstruction`; user and assistant turns `contents`
 *   of roles `user` and `model` (consecutive turns of one role joined, as Gemini wants);
 *   data-URL images `inlineData`, other image URLs `fileData`.
 * - tool calls become `functionCall` parts (arguments parsed; with Google's documented stand-in
 *   thought signature, since a chat client keeps none and Gemini 3 requires one on past calls),
 *   tool messages `functionResponse` parts named after the call they answer (`response:
 *   {result}`, the result parsed when JSON).
 * - tools become `functionDeclarations` with `parametersJsonSchema` (JSON Schema as sent);
 *   tool_choice auto/none/required/{function} → AUTO/NONE/ANY/ANY with that one name.
 * - temperature, top_p, max(_completion)_tokens, stop, seed, penalties → `generationConfig`;
 *   `response_format` json_schema → `responseMimeType: application/json` + `responseJsonSchema`
 *   (json_object: the MIME type alone); `reasoning_effort` low/medium/high → a thinking budget
 *   of 1,024 / 8,192 / 24,576 tokens with thoughts included. n > 1 is a 400.
 * - Answers: text parts → content, `thought` parts → `reasoning_content`, `functionCall` →
 *   tool_calls; STOP → stop (tool_calls when there are calls), MAX_TOKENS → length, the safety
 *   reasons → content_filter; `usageMetadata` → usage (thoughts counted in completion tokens,
 *   as OpenAI counts reasoning). Gemini's stream has no terminator: the response that carries a
 *   `finishReason` ends it, and becomes the finish chunk, the usage chunk and `[DONE]`.
 */

import { ChatChunks } from "./chunks.ts";
import { isRecord, type JsonObject, numberOf, parseJson, records, stringOf } from "../narrow.ts";
import { openaiErrorBody } from "../openai_error.ts";
import {
  type SseEvent,
  type StreamTranslator,
  type Translation,
  type TranslationContext,
  TranslationError,
} from "../translation.ts";

/** Chat Completions client, Gemini generateContent upstream. */
export const chatViaGenerateContent: Translation = {
  request: generateContentRequest,
  response: chatAnswer,
  stream: (ctx) => new GeminiToChatStream(ctx),
  error: openaiErrorBody,
};

/** Google's documented stand-in for a thought signature the client could not keep. */
const SKIP_SIGNATURE = "skip_thought_signature_validator";

/** Thinking budgets for OpenAI's reasoning efforts (Gemini 2.5 Flash takes up to 24,576). */
const BUDGETS: Record<string, number> = { low: 1024, medium: 8192, high: 24576 };

// --- request ---

function generateContentRequest(body: JsonObject, _ctx: TranslationContext): JsonObject {
  if (!Array.isArray(body.messages)) {
    throw new TranslationError("messages: expected an array of messages", "messages");
  }
  const n = numberOf(body.n);
  if (n !== undefined && n > 1) {
    throw new TranslationError(
      "n: BitRouter asks Gemini for one candidate per request; send n separate requests instead",
      "n",
    );
  }
  const system: string[] = [];
  const contents: { role: string; parts: JsonObject[] }[] = [];
  const names = new Map<string, string>();
  const add = (role: string, parts: JsonObject[]) => {
    if (parts.length === 0) return;
    const last = contents.at(-1);
    if (last?.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  records(body.messages).forEach((m, i) => {
    switch (m.role) {
      case "system":
      case "developer": {
        const text = textOf(m.content);
        if (text !== "") system.push(text);
        return;
      }
      case "user":
        add("user", userParts(m.content, i));
        return;
      case "assistant": {
        const parts: JsonObject[] = [];
        const text = textOf(m.content);
        if (text !== "") parts.push({ text });
        for (const call of records(m.tool_calls)) {
          const fn = isRecord(call.function) ? call.function : {};
          const name = stringOf(fn.name) ?? "";
          const id = stringOf(call.id);
          if (id) names.set(id, name);
          const args = typeof fn.arguments === "string" ? parseJson(fn.arguments) : fn.arguments;
          const functionCall: JsonObject = { name, args: isRecord(args) ? args : {} };
          if (id) functionCall.id = id;
          // Gemini 3 refuses a past function call without the thought signature it came with,
          // which a chat client never has; Google documents this value to skip the check.
          parts.push({ functionCall, thoughtSignature: SKIP_SIGNATURE });
        }
        add("model", parts);
        return;
      }
      case "tool": {
        const id = stringOf(m.tool_call_id) ?? "";
        const text = textOf(m.content);
        const parsed = parseJson(text);
        const functionResponse: JsonObject = {
          name: names.get(id) ?? stringOf(m.name) ?? "",
          response: { result: parsed ?? text },
        };
        if (id) functionResponse.id = id;
        add("user", [{ functionResponse }]);
        return;
      }
      default:
        throw new TranslationError(
          `messages[${i}].role: ${JSON.stringify(m.role)} cannot be sent to a Gemini model`,
          `messages[${i}].role`,
        );
    }
  });

  const out: JsonObject = { contents };
  if (system.length > 0) out.systemInstruction = { parts: [{ text: system.join("\n\n") }] };
  const tools = records(body.tools).filter((t) => isRecord(t.function)).map((t) => {
    const fn = t.function as JsonObject;
    const decl: JsonObject = { name: stringOf(fn.name) ?? "" };
    if (typeof fn.description === "string") decl.description = fn.description;
    if (isRecord(fn.parameters)) decl.parametersJsonSchema = fn.parameters;
    return decl;
  });
  if (tools.length > 0) {
    out.tools = [{ functionDeclarations: tools }];
    const config = functionCallingConfig(body.tool_choice);
    if (config) out.toolConfig = { functionCallingConfig: config };
  }
  const generation = generationConfig(body);
  if (Object.keys(generation).length > 0) out.generationConfig = generation;
  return out;
}

function userParts(content: unknown, i: number): JsonObject[] {
  if (typeof content === "string") return content === "" ? [] : [{ text: content }];
  const parts: JsonObject[] = [];
  records(content).forEach((part, j) => {
    if (part.type === "text" && typeof part.text === "string" && part.text !== "") {
      parts.push({ text: part.text });
    } else if (part.type === "image_url") {
      const image = isRecord(part.image_url) ? part.image_url : {};
      const url = stringOf(image.url) ?? "";
      const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
      if (data) parts.push({ inlineData: { mimeType: data[1], data: data[2] } });
      else parts.push({ fileData: { mimeType: imageTypeOf(url), fileUri: url } });
    } else if (part.type !== "text") {
      throw new TranslationError(
        `messages[${i}].content[${j}]: a ${
          String(part.type)
        } part cannot be sent to a Gemini model`,
        `messages[${i}].content[${j}].type`,
      );
    }
  });
  return parts;
}

function imageTypeOf(url: string): string {
  const ext = /\.(png|jpe?g|gif|webp|heic|heif)(?:[?#]|$)/i.exec(url)?.[1].toLowerCase();
  if (ext === "jpg" || ext === "jpeg") return "image/jpeg";
  return ext ? `image/${ext}` : "image/jpeg";
}

function functionCallingConfig(choice: unknown): JsonObject | undefined {
  if (choice === "auto") return { mode: "AUTO" };
  if (choice === "none") return { mode: "NONE" };
  if (choice === "required") return { mode: "ANY" };
  if (isRecord(choice) && isRecord(choice.function)) {
    return { mode: "ANY", allowedFunctionNames: [stringOf(choice.function.name) ?? ""] };
  }
  return undefined;
}

function generationConfig(body: JsonObject): JsonObject {
  const out: JsonObject = {};
  const same: [string, string][] = [
    ["temperature", "temperature"],
    ["top_p", "topP"],
    ["seed", "seed"],
    ["presence_penalty", "presencePenalty"],
    ["frequency_penalty", "frequencyPenalty"],
  ];
  for (const [from, to] of same) if (numberOf(body[from]) !== undefined) out[to] = body[from];
  const max = numberOf(body.max_completion_tokens) ?? numberOf(body.max_tokens);
  if (max !== undefined) out.maxOutputTokens = max;
  const stop = typeof body.stop === "string" ? [body.stop] : body.stop;
  if (Array.isArray(stop) && stop.length > 0) out.stopSequences = stop;
  const format = isRecord(body.response_format) ? body.response_format : undefined;
  if (format?.type === "json_schema" || format?.type === "json_object") {
    out.responseMimeType = "application/json";
    const schema = isRecord(format.json_schema) ? format.json_schema.schema : undefined;
    if (isRecord(schema)) out.responseJsonSchema = schema;
  }
  const budget = BUDGETS[stringOf(body.reasoning_effort) ?? ""];
  if (budget !== undefined) out.thinkingConfig = { thinkingBudget: budget, includeThoughts: true };
  return out;
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  return records(content).map((p) => stringOf(p.text) ?? "").join("");
}

// --- answers ---

/** What one Gemini response says: its text, thoughts, calls, finish reason and usage. */
interface Reading {
  text: string;
  thoughts: string;
  calls: JsonObject[];
  finish?: string;
  usage?: JsonObject;
}

function read(body: unknown): Reading {
  const answer = isRecord(body) ? body : {};
  const candidate = records(answer.candidates)[0];
  const content = candidate && isRecord(candidate.content) ? candidate.content : {};
  const out: Reading = { text: "", thoughts: "", calls: [] };
  for (const part of records(content.parts)) {
    if (typeof part.text === "string") {
      if (part.thought === true) out.thoughts += part.text;
      else out.text += part.text;
    }
    if (isRecord(part.functionCall)) out.calls.push(part.functionCall);
  }
  const blocked = isRecord(answer.promptFeedback) && answer.promptFeedback.blockReason;
  const finish = stringOf(candidate?.finishReason) ?? (blocked ? "SAFETY" : undefined);
  if (finish !== undefined) out.finish = finish;
  if (isRecord(answer.usageMetadata)) out.usage = answer.usageMetadata;
  return out;
}

function finishReason(finish: string | undefined, hasCalls: boolean): string {
  if (finish === "MAX_TOKENS") return "length";
  if (finish && SAFETY.has(finish)) return "content_filter";
  return hasCalls ? "tool_calls" : "stop";
}

const SAFETY = new Set([
  "SAFETY",
  "RECITATION",
  "BLOCKLIST",
  "PROHIBITED_CONTENT",
  "SPII",
  "IMAGE_SAFETY",
]);

function chatUsage(usage: JsonObject | undefined): JsonObject | undefined {
  if (!usage) return undefined;
  const prompt = numberOf(usage.promptTokenCount) ?? 0;
  const thoughts = numberOf(usage.thoughtsTokenCount) ?? 0;
  const completion = (numberOf(usage.candidatesTokenCount) ?? 0) + thoughts;
  const out: JsonObject = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: numberOf(usage.totalTokenCount) ?? prompt + completion,
  };
  if (thoughts > 0) out.completion_tokens_details = { reasoning_tokens: thoughts };
  const cached = numberOf(usage.cachedContentTokenCount);
  if (cached) out.prompt_tokens_details = { cached_tokens: cached };
  return out;
}

function toolCall(call: JsonObject, ctx: TranslationContext, index: number): JsonObject {
  return {
    id: stringOf(call.id) || `call_${idPart(ctx)}_${index}`,
    type: "function",
    function: {
      name: stringOf(call.name) ?? "",
      arguments: JSON.stringify(isRecord(call.args) ? call.args : {}),
    },
  };
}

function idPart(ctx: TranslationContext): string {
  return ctx.requestId.replace(/[^A-Za-z0-9_-]/g, "");
}

function chatAnswer(body: unknown, ctx: TranslationContext): JsonObject {
  const r = read(body);
  const message: JsonObject = {
    role: "assistant",
    content: r.text === "" && r.calls.length > 0 ? null : r.text,
  };
  if (r.thoughts !== "") message.reasoning_content = r.thoughts;
  if (r.calls.length > 0) message.tool_calls = r.calls.map((c, i) => toolCall(c, ctx, i));
  const out: JsonObject = {
    id: `chatcmpl-${idPart(ctx)}`,
    object: "chat.completion",
    created: ctx.nowSecs,
    model: ctx.requestedModel,
    choices: [{
      index: 0,
      message,
      logprobs: null,
      finish_reason: finishReason(r.finish, r.calls.length > 0),
    }],
  };
  const usage = chatUsage(r.usage);
  if (usage) out.usage = usage;
  return out;
}

/** Gemini's stream of GenerateContentResponses → chat.completion.chunk events. */
class GeminiToChatStream implements StreamTranslator {
  finished = false;
  readonly #ctx: TranslationContext;
  readonly #chunks: ChatChunks;
  #started = false;
  #calls = 0;

  constructor(ctx: TranslationContext) {
    this.#chunks = new ChatChunks(ctx, `chatcmpl-${idPart(ctx)}`);
    this.#ctx = ctx;
  }

  push(event: SseEvent): SseEvent[] {
    if (this.finished) return [];
    const body = parseJson(event.data);
    if (!isRecord(body)) return [];
    if (body.error !== undefined) {
      this.finished = true;
      return [{ data: JSON.stringify(openaiErrorBody(500, body)) }];
    }
    const out: SseEvent[] = [];
    if (!this.#started) {
      this.#started = true;
      out.push(this.#chunks.chunk({ role: "assistant", content: "" }));
    }
    const r = read(body);
    if (r.thoughts !== "") out.push(this.#chunks.chunk({ reasoning_content: r.thoughts }));
    if (r.text !== "") out.push(this.#chunks.chunk({ content: r.text }));
    for (const call of r.calls) {
      const index = this.#calls++;
      out.push(
        this.#chunks.chunk({ tool_calls: [{ index, ...toolCall(call, this.#ctx, index) }] }),
      );
    }
    if (r.finish !== undefined) {
      this.finished = true;
      out.push(this.#chunks.chunk({}, finishReason(r.finish, this.#calls > 0)));
      const usage = chatUsage(r.usage);
      if (usage) out.push(this.#chunks.usage(usage));
      out.push({ data: "[DONE]" });
    }
    return out;
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
}
