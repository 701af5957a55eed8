import type { Protocol } from "../config/protocol.ts";
import { chatViaMessages } from "./chat/via_messages.ts";
import { messagesViaChat } from "./messages/via_chat.ts";
import type { Translation } from "./translation.ts";

/** Every translation BitRouter has, by client protocol, then upstream protocol (SPEC §6). */
const TRANSLATIONS: Partial<Record<Protocol, Partial<Record<Protocol, Translation>>>> = {
  messages: { chat_completions: messagesViaChat },
  chat_completions: { messages: chatViaMessages },
};

/** The translation from a client's protocol to an upstream's, if BitRouter has one. */
export function translationFor(client: Protocol, upstream: Protocol): Translation | undefined {
  return TRANSLATIONS[client]?.[upstream];
}
