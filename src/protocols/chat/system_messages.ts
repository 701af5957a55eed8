/**
 * At most one system message, first (SPEC §6): what a translated request to a Chat Completions
 * upstream carries. Many llama.cpp and vLLM chat templates raise an error on a second system
 * message or on one that is not first, and clients send both: Codex sends `instructions` and a
 * developer message of several parts, Claude Code a system turn after the first user turn.
 *
 * The leading system (and developer) messages are always joined into one, whatever their content
 * shape (a string or text parts). A system message later in the conversation is handled by the
 * provider's `compatibility.chat_completions.system_messages`:
 * - `merge` (default): its text is appended to the first system message, so every template
 *   accepts the request and nothing is lost; only its position is.
 * - `user`: it stays where it was, as a user turn whose text is wrapped in `<system>…</system>`,
 *   for models that should read it at that point of the conversation.
 * - `keep`: it is sent as it came, for an upstream whose template accepts it.
 * Non-text parts of a system message (rare: an image) have no place in a system string; they
 * follow as a user turn at the message's position, so nothing is dropped.
 */
import { isRecord, type JsonObject, stringOf } from "../narrow.ts";
import type { SystemMessageMode } from "../../config/types.ts";

/** How the texts of merged system messages (and of a message's parts) are joined. */
const JOIN = "\n\n";

/** The chat messages with one system message first; later ones handled by mode. */
export function oneSystemMessage(
  messages: JsonObject[],
  mode: SystemMessageMode = "merge",
): JsonObject[] {
  const system: string[] = [];
  const out: JsonObject[] = [];
  let leading = true;
  for (const message of messages) {
    if (message.role !== "system" && message.role !== "developer") {
      leading = false;
      out.push(message);
      continue;
    }
    if (!leading && mode === "keep") {
      out.push(message);
      continue;
    }
    const { text, other } = splitContent(message.content);
    if (leading || mode === "merge") {
      if (text !== "") system.push(text);
    } else if (text !== "") {
      out.push({ role: "user", content: `<system>\n${text}\n</system>` });
    }
    if (other.length > 0) out.push({ role: "user", content: other });
  }
  return system.length > 0 ? [{ role: "system", content: system.join(JOIN) }, ...out] : out;
}

/** The text of string or parts content, and the parts that are not text. */
function splitContent(content: unknown): { text: string; other: JsonObject[] } {
  if (typeof content === "string") return { text: content, other: [] };
  if (!Array.isArray(content)) return { text: "", other: [] };
  const texts: string[] = [];
  const other: JsonObject[] = [];
  for (const part of content) {
    if (!isRecord(part)) continue;
    const text = part.type === "text" || part.type === "input_text" || part.type === undefined
      ? stringOf(part.text)
      : undefined;
    if (text !== undefined) {
      if (text !== "") texts.push(text);
    } else {
      other.push(part);
    }
  }
  return { text: texts.join(JOIN), other };
}
