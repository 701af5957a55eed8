/**
 * A Gemini `generateContent` request as a Chat Completions request (SPEC §6).
 *
 * - `systemInstruction` becomes the system message; `contents` turns (`user`, `model`) become
 *   user and assistant messages; `inlineData` images become data-URL image parts, `fileData`
 *   with an http(s) URI an image URL part; other media (audio, PDFs) have no chat form: 400.
 * - `functionCall` parts become tool calls (Gemini's `args` object as a JSON string; an id is
 *   made when the call has none); `functionResponse` parts become tool messages answering the
 *   call with that id, else the first unanswered call of that name.
 * - `tools[].functionDeclarations` become function tools (`parameters` in Gemini's schema form
 *   are made JSON Schema; `parametersJsonSchema` is already); Google's own tools (search, code
 *   execution) have no chat form and are dropped. `toolConfig.functionCallingConfig.mode`:
 *   AUTO → auto, ANY → required (or the one allowed function), NONE → none.
 * - `generationConfig`: temperature, topP, maxOutputTokens, stopSequences, seed,
 *   presence/frequencyPenalty map by name; topK goes only to servers known to take it;
 *   candidateCount above 1 is a 400 (BitRouter answers one candidate);
 *   `responseMimeType: application/json` with `responseJsonSchema` or `responseSchema` becomes
 *   `response_format: json_schema` (without a schema, `json_object`); `thinkingConfig`'s
 *   `thinkingLevel` or `thinkingBudget` becomes `reasoning_effort` (0 → none asked, as budgets
 *   ≤ 1024 low, ≤ 8192 medium, more high), and `includeThoughts: false` drops reasoning.
 * - `safetySettings` and `cachedContent` are Google's and are dropped.
 */

import { oneSystemMessage } from "../chat/system_messages.ts";
import { isRecord, type JsonObject, numberOf, records, stringOf } from "../narrow.ts";
import { type TranslationContext, TranslationError } from "../translation.ts";
import { jsonSchemaOf } from "./schema.ts";

/** Servers whose Chat Completions endpoint takes `top_k`. */
const TAKES_TOP_K = new Set(["vllm", "llamacpp", "lmstudio"]);

/** A generateContent request (with BitRouter's `stream` flag from the URL) as a chat request. */
export function geminiRequestToChat(body: JsonObject, ctx: TranslationContext): JsonObject {
  if (!Array.isArray(body.contents)) {
    throw new TranslationError("contents: expected a list of Content objects", "contents");
  }
  const messages: JsonObject[] = [];
  const system = textOf(body.systemInstruction);
  if (system !== "") messages.push({ role: "system", content: system });
  messages.push(...chatMessages(records(body.contents)));

  const out: JsonObject = {
    model: ctx.upstreamModel,
    messages: oneSystemMessage(messages, ctx.systemMessages),
  };
  const config = isRecord(body.generationConfig) ? body.generationConfig : {};
  const candidates = numberOf(config.candidateCount);
  if (candidates !== undefined && candidates > 1) {
    throw new TranslationError(
      "generationConfig.candidateCount: BitRouter answers one candidate per request; send several requests instead",
      "generationConfig.candidateCount",
    );
  }
  const same: [string, string][] = [
    ["temperature", "temperature"],
    ["topP", "top_p"],
    ["seed", "seed"],
    ["presencePenalty", "presence_penalty"],
    ["frequencyPenalty", "frequency_penalty"],
    ["maxOutputTokens", "max_tokens"],
  ];
  for (const [from, to] of same) {
    if (numberOf(config[from]) !== undefined) out[to] = config[from];
  }
  if (numberOf(config.topK) !== undefined && TAKES_TOP_K.has(ctx.upstreamKind ?? "")) {
    out.top_k = config.topK;
  }
  if (Array.isArray(config.stopSequences) && config.stopSequences.length > 0) {
    out.stop = config.stopSequences;
  }
  const format = responseFormat(config);
  if (format) out.response_format = format;
  const effort = reasoningEffort(config.thinkingConfig);
  if (effort) out.reasoning_effort = effort;

  const tools = records(body.tools).flatMap((t) => records(t.functionDeclarations)).map(chatTool);
  if (tools.length > 0) {
    out.tools = tools;
    const choice = toolChoice(body.toolConfig);
    if (choice !== undefined) out.tool_choice = choice;
  }
  if (body.stream === true) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  return out;
}

/** Whether the request asked not to see the model's thoughts. */
export function hidesThoughts(body: JsonObject): boolean {
  const config = isRecord(body.generationConfig) ? body.generationConfig : {};
  const thinking = isRecord(config.thinkingConfig) ? config.thinkingConfig : {};
  return thinking.includeThoughts === false;
}

function chatMessages(contents: JsonObject[]): JsonObject[] {
  const out: JsonObject[] = [];
  let open: { id: string; name: string }[] = [];
  let calls = 0;
  contents.forEach((content, i) => {
    const role = stringOf(content.role) ?? "user";
    const parts = records(content.parts);
    if (role === "model") {
      const texts: string[] = [];
      const toolCalls: JsonObject[] = [];
      for (const part of parts) {
        // Thoughts are the model's own notes; a chat server re-derives them.
        if (typeof part.text === "string" && part.thought !== true) texts.push(part.text);
        if (isRecord(part.functionCall)) {
          const fc = part.functionCall;
          const id = stringOf(fc.id) || `call_${calls}`;
          calls++;
          const name = stringOf(fc.name) ?? "";
          open.push({ id, name });
          toolCalls.push({
            id,
            type: "function",
            function: { name, arguments: JSON.stringify(isRecord(fc.args) ? fc.args : {}) },
          });
        }
      }
      const text = texts.join("");
      if (toolCalls.length > 0) {
        out.push({ role: "assistant", content: text === "" ? null : text, tool_calls: toolCalls });
      } else if (text !== "") out.push({ role: "assistant", content: text });
      return;
    }
    if (role !== "user" && role !== "function" && role !== "tool") {
      throw new TranslationError(
        `contents[${i}].role: ${JSON.stringify(content.role)} is not user or model`,
        `contents[${i}].role`,
      );
    }
    const userParts: JsonObject[] = [];
    parts.forEach((part, j) => {
      if (isRecord(part.functionResponse)) {
        const fr = part.functionResponse;
        const id = stringOf(fr.id);
        const name = stringOf(fr.name);
        const match = open.find((c) => c.id === id) ?? open.find((c) => c.name === name) ??
          open[0];
        if (match) open = open.filter((c) => c !== match);
        out.push({
          role: "tool",
          tool_call_id: id ?? match?.id ?? "",
          content: JSON.stringify(fr.response ?? {}),
        });
        return;
      }
      const chat = userPart(part, `contents[${i}].parts[${j}]`);
      if (chat) userParts.push(chat);
    });
    if (userParts.length === 0) return;
    out.push({
      role: "user",
      content: userParts.every((p) => p.type === "text")
        ? userParts.map((p) => p.text).join("")
        : userParts,
    });
  });
  return out;
}

function userPart(part: JsonObject, where: string): JsonObject | undefined {
  if (typeof part.text === "string") {
    return part.text === "" ? undefined : { type: "text", text: part.text };
  }
  const inline = isRecord(part.inlineData) ? part.inlineData : undefined;
  if (inline) {
    const type = stringOf(inline.mimeType) ?? "";
    if (!type.startsWith("image/")) throw unsupportedMedia(type, where);
    return {
      type: "image_url",
      image_url: { url: `data:${type};base64,${stringOf(inline.data) ?? ""}` },
    };
  }
  const file = isRecord(part.fileData) ? part.fileData : undefined;
  if (file) {
    const uri = stringOf(file.fileUri) ?? "";
    const type = stringOf(file.mimeType) ?? "image/*";
    if (!/^https?:/.test(uri) || !type.startsWith("image/")) throw unsupportedMedia(type, where);
    return { type: "image_url", image_url: { url: uri } };
  }
  return undefined;
}

function unsupportedMedia(type: string, where: string): TranslationError {
  return new TranslationError(
    `${where}: ${
      type || "this"
    } data has no Chat Completions form (only images do); send text or an image, or use a Gemini model`,
    where,
  );
}

function chatTool(decl: JsonObject): JsonObject {
  const fn: JsonObject = { name: stringOf(decl.name) ?? "" };
  if (typeof decl.description === "string") fn.description = decl.description;
  fn.parameters = isRecord(decl.parametersJsonSchema)
    ? decl.parametersJsonSchema
    : isRecord(decl.parameters)
    ? jsonSchemaOf(decl.parameters)
    : { type: "object", properties: {} };
  return { type: "function", function: fn };
}

function toolChoice(toolConfig: unknown): unknown {
  const config = isRecord(toolConfig) && isRecord(toolConfig.functionCallingConfig)
    ? toolConfig.functionCallingConfig
    : undefined;
  switch (config?.mode) {
    case "AUTO":
      return "auto";
    case "NONE":
      return "none";
    case "ANY":
    case "VALIDATED": {
      const allowed = Array.isArray(config.allowedFunctionNames) ? config.allowedFunctionNames : [];
      if (allowed.length === 1 && typeof allowed[0] === "string") {
        return { type: "function", function: { name: allowed[0] } };
      }
      return config.mode === "ANY" ? "required" : "auto";
    }
  }
  return undefined;
}

function responseFormat(config: JsonObject): JsonObject | undefined {
  const schema = config.responseJsonSchema ?? config._responseJsonSchema;
  if (isRecord(schema)) {
    return { type: "json_schema", json_schema: { name: "output", schema } };
  }
  if (isRecord(config.responseSchema)) {
    return {
      type: "json_schema",
      json_schema: { name: "output", schema: jsonSchemaOf(config.responseSchema) },
    };
  }
  if (config.responseMimeType === "application/json") return { type: "json_object" };
  return undefined;
}

function reasoningEffort(thinking: unknown): string | undefined {
  if (!isRecord(thinking)) return undefined;
  const level = stringOf(thinking.thinkingLevel)?.toLowerCase();
  if (level === "low" || level === "medium" || level === "high") return level;
  const budget = numberOf(thinking.thinkingBudget);
  if (budget === undefined || budget <= 0) return undefined;
  return budget <= 1024 ? "low" : budget <= 8192 ? "medium" : "high";
}

/** The text of a Content (`systemInstruction`), or of a bare string. */
function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (!isRecord(value)) return "";
  return records(value.parts).map((p) => stringOf(p.text) ?? "").join("");
}
