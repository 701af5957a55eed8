import type { Protocol } from "../config/protocol.ts";
import { chatViaMessages } from "./chat/via_messages.ts";
import { compose } from "./compose.ts";
import { messagesViaChat } from "./messages/via_chat.ts";
import { responsesViaChat } from "./responses/via_chat.ts";
import type { Translation } from "./translation.ts";

/** Every translation BitRouter has, by client protocol, then upstream protocol (SPEC §6). */
const TRANSLATIONS: Partial<Record<Protocol, Partial<Record<Protocol, Translation>>>> = {
  messages: { chat_completions: messagesViaChat },
  chat_completions: { messages: chatViaMessages },
  responses: {
    chat_completions: responsesViaChat,
    // Through Chat Completions, which carries everything both ends have in common.
    messages: compose(responsesViaChat, chatViaMessages),
  },
};

/** The translation from a client's protocol to an upstream's, if BitRouter has one. */
export function translationFor(client: Protocol, upstream: Protocol): Translation | undefined {
  return TRANSLATIONS[client]?.[upstream];
}
