/**
 * Gemini's API (`generateContent`, `streamGenerateContent`) ↔ Chat Completions (SPEC §6): what
 * lets `@google/genai` and the Gemini CLI reach every model BitRouter routes. Messages and
 * Responses upstreams are reached by composition (registry.ts). Whether the client streams is
 * in Gemini's URL, not its body: the route sets `stream: true` on the parsed body it hands over.
 */
import type { Translation, TranslationContext } from "../translation.ts";
import { geminiAnswer, geminiStream } from "./chat_answer.ts";
import { geminiRequestToChat, hidesThoughts } from "./chat_request.ts";
import { googleErrorBody } from "./errors.ts";

/** Requests that set `thinkingConfig.includeThoughts: false`. */
const NO_THOUGHTS = new WeakSet<TranslationContext>();

/** Gemini client, Chat Completions upstream. */
export const geminiViaChat: Translation = {
  request(body, ctx) {
    if (hidesThoughts(body)) NO_THOUGHTS.add(ctx);
    return geminiRequestToChat(body, ctx);
  },
  response: (body, ctx) => geminiAnswer(body, ctx, !NO_THOUGHTS.has(ctx)),
  stream: (ctx) => geminiStream(ctx, !NO_THOUGHTS.has(ctx)),
  error: googleErrorBody,
};
