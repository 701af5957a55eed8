/**
 * The human-readable message inside an upstream's error answer, whatever its shape: OpenAI's and
 * Anthropic's envelopes, vLLM's `{"error":"Unauthorized"}`, FastAPI's `{"detail":…}`, or plain text
 * (Ollama's `404 page not found`, an HTML page from a proxy in front of the server). Every place
 * that quotes an upstream error — translated error envelopes and the all-failed message — reads
 * it here, so they word it alike.
 */

import { isRecord, stringOf } from "./narrow.ts";

/** Longest plain-text body quoted into a message; an HTML error page is not worth more. */
const MAX_TEXT = 500;

/** The message an upstream error body carries, or one naming the status when it carries none. */
export function errorMessageOf(status: number, body: unknown): string {
  return upstreamMessageOf(body) ?? `the upstream answered ${status} without saying why`;
}

/**
 * The message an upstream error body (parsed JSON, or text) carries, if any: an HTML page is
 * reduced to its title or visible text, and long text is cut at MAX_TEXT characters.
 */
export function upstreamMessageOf(body: unknown): string | undefined {
  if (isRecord(body)) {
    const error = body.error;
    return (isRecord(error) ? nonBlank(error.message) : undefined) ?? nonBlank(error) ??
      nonBlank(body.message) ?? detailOf(body.detail);
  }
  if (typeof body !== "string") return undefined;
  const text = pageText(body).replace(/\s+/g, " ").trim();
  if (text === "") return undefined;
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;
}

/**
 * An HTML page (a proxy's or framework's error page) by its `<title>`, or else its visible text
 * without scripts and styles — never markup, CSS or JavaScript; any other text as it is.
 */
function pageText(text: string): string {
  if (!/<(!doctype|html|head|body|title|h1|p|div|pre)\b/i.test(text)) return text;
  const title = text.match(/<title[^>]*>([\s\S]*?)<\/title>/i)?.[1];
  const visible = title?.trim() ? title : text
    .replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, " ")
    .replace(/<!--[\s\S]*?-->/g, " ");
  return visible.replace(/<[^>]*>/g, " ")
    .replace(/&nbsp;/g, " ").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'").replace(/&amp;/g, "&");
}

/** The value when it is a string with something in it. */
function nonBlank(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value : undefined;
}

/** FastAPI's `detail`: a string, or a list of validation problems each with a `msg`. */
function detailOf(detail: unknown): string | undefined {
  if (typeof detail === "string") return nonBlank(detail);
  if (!Array.isArray(detail)) return undefined;
  const messages = detail.map((d) => isRecord(d) ? stringOf(d.msg) : undefined).filter(Boolean);
  return messages.length > 0 ? messages.join("; ") : undefined;
}
