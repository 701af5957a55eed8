import type { Protocol } from "../config/protocol.ts";
import { chatViaGenerateContent } from "./chat/via_generate_content.ts";
import { chatViaMessages } from "./chat/via_messages.ts";
import { chatViaResponses } from "./chat/via_responses.ts";
import { compose } from "./compose.ts";
import { geminiNative } from "./gemini/native.ts";
import { geminiViaChat } from "./gemini/via_chat.ts";
import { messagesViaChat } from "./messages/via_chat.ts";
import { ollamaChatViaChat, ollamaGenerateViaChat } from "./ollama/via_chat.ts";
import { responsesViaChat } from "./responses/via_chat.ts";
import type { Translation } from "./translation.ts";

/**
 * A protocol a client may speak to BitRouter: every upstream protocol; Ollama's API, whose
 * `/api/chat` and `/api/generate` are two request shapes no upstream is called with (BitRouter
 * reaches Ollama servers through their OpenAI-compatible `/v1`, see README); and Gemini's API,
 * whose model and streaming are in the URL, so even a Gemini upstream gets a request rebuilt
 * for it (gemini/native.ts).
 */
export type ClientProtocol = Protocol | "ollama_chat" | "ollama_generate" | "gemini";

/**
 * Every translation from a client that speaks Chat Completions' pivot to the other upstream
 * protocols: a client translation to chat_completions composed with these reaches them all.
 */
const FROM_CHAT: Partial<Record<Protocol, Translation>> = {
  messages: chatViaMessages,
  generate_content: chatViaGenerateContent,
  responses: chatViaResponses,
};

/** The translations of a client protocol whose translation to Chat Completions is `viaChat`. */
function throughChat(viaChat: Translation): Partial<Record<Protocol, Translation>> {
  const out: Partial<Record<Protocol, Translation>> = { chat_completions: viaChat };
  for (const [upstream, next] of Object.entries(FROM_CHAT) as [Protocol, Translation][]) {
    out[upstream] = compose(viaChat, next);
  }
  return out;
}

/** Every translation BitRouter has, by client protocol, then upstream protocol (SPEC §6). */
const TRANSLATIONS: Partial<Record<ClientProtocol, Partial<Record<Protocol, Translation>>>> = {
  messages: throughChat(messagesViaChat),
  chat_completions: FROM_CHAT,
  // Through Chat Completions, which carries everything both ends have in common.
  responses: throughChat(responsesViaChat),
  ollama_chat: throughChat(ollamaChatViaChat),
  ollama_generate: throughChat(ollamaGenerateViaChat),
  gemini: { ...throughChat(geminiViaChat), generate_content: geminiNative },
};

/** The translation from a client's protocol to an upstream's, if BitRouter has one. */
export function translationFor(
  client: ClientProtocol,
  upstream: Protocol,
): Translation | undefined {
  if (client === upstream) return undefined;
  return TRANSLATIONS[client]?.[upstream];
}
