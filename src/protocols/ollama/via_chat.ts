/**
 * Ollama's API (`/api/chat`, `/api/generate`) ↔ Chat Completions (SPEC §6): what lets the tools
 * that speak only Ollama's API (Open WebUI's Ollama connection, the `ollama` libraries, editor
 * plugins) reach every model BitRouter routes. Messages and Responses upstreams are reached by
 * composing with chat's own translations (registry.ts).
 */
import type { JsonObject } from "../narrow.ts";
import type { Translation, TranslationContext } from "../translation.ts";
import { ollamaAnswer, type OllamaShape, ollamaStream } from "./chat_answer.ts";
import { ollamaChatToChat, ollamaGenerateToChat } from "./chat_request.ts";
import { ollamaErrorBody } from "./errors.ts";

/** Requests that said `think: false`: their answers carry no reasoning. */
const NO_THINKING = new WeakSet<TranslationContext>();

function via(
  shape: OllamaShape,
  toChat: (body: JsonObject, ctx: TranslationContext) => JsonObject,
): Translation {
  return {
    request(body, ctx) {
      if (body.think === false) NO_THINKING.add(ctx);
      return toChat(body, ctx);
    },
    response: (body, ctx) => ollamaAnswer(shape, body, ctx, !NO_THINKING.has(ctx)),
    stream: (ctx) => ollamaStream(shape, ctx, !NO_THINKING.has(ctx)),
    error: ollamaErrorBody,
  };
}

/** Ollama `/api/chat` client, Chat Completions upstream. */
export const ollamaChatViaChat: Translation = via("chat", ollamaChatToChat);

/** Ollama `/api/generate` client, Chat Completions upstream. */
export const ollamaGenerateViaChat: Translation = via("generate", ollamaGenerateToChat);
