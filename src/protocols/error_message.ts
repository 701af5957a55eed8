/**
 * The human-readable message inside an upstream's error answer, whatever its shape: OpenAI's and
 * Anthropic's envelopes, vLLM's `{"error":"Unauthorized"}`, FastAPI's `{"detail":…}`, or plain text
 * (Ollama's `404 page not found`, an HTML page from a proxy in front of the server).
 */

import { isRecord, stringOf } from "./narrow.ts";

/** Longest plain-text body quoted into a message; an HTML error page is not worth more. */
const MAX_TEXT = 500;

/** The message an upstream error body carries, or one naming the status when it carries none. */
export function errorMessageOf(status: number, body: unknown): string {
  if (isRecord(body)) {
    const error = body.error;
    if (isRecord(error)) {
      const message = stringOf(error.message);
      if (message) return message;
    }
    const direct = stringOf(error) ?? stringOf(body.message) ?? detailOf(body.detail);
    if (direct) return direct;
  }
  if (typeof body === "string" && body.trim() !== "") {
    const text = body.trim();
    return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;
  }
  return `upstream answered ${status}`;
}

/** FastAPI's `detail`: a string, or a list of validation problems each with a `msg`. */
function detailOf(detail: unknown): string | undefined {
  if (typeof detail === "string") return detail;
  if (!Array.isArray(detail)) return undefined;
  const messages = detail.map((d) => isRecord(d) ? stringOf(d.msg) : undefined).filter(Boolean);
  return messages.length > 0 ? messages.join("; ") : undefined;
}
