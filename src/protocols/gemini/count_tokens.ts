/**
 * `:countTokens` for upstreams that are not Gemini's (no local server counts tokens for another
 * API's request shape): the same documented estimate as Messages' count_tokens.
 */
import { isRecord, type JsonObject, records } from "../narrow.ts";

/** Gemini documents 258 tokens for an image up to 384 px on each side (larger ones are tiled). */
const IMAGE_TOKENS = 258;
const CHARS_PER_TOKEN = 4;

/**
 * An estimate of a generateContent request's input tokens: the characters of every text part,
 * function call and response, the system instruction and the function declarations, divided
 * by 4 and rounded up, plus 258 per inline or file part. Good for sizing a context, not billing.
 */
export function estimateGeminiTokens(body: JsonObject): number {
  let chars = 0;
  let fixed = 0;
  const parts = (content: unknown) => {
    if (!isRecord(content)) return;
    for (const part of records(content.parts)) {
      if (typeof part.text === "string") chars += part.text.length;
      else if (part.inlineData !== undefined || part.fileData !== undefined) fixed += IMAGE_TOKENS;
      else chars += JSON.stringify(part).length;
    }
  };
  parts(body.systemInstruction);
  for (const content of records(body.contents)) parts(content);
  for (const tool of records(body.tools)) chars += JSON.stringify(tool).length;
  return Math.ceil(chars / CHARS_PER_TOKEN) + fixed;
}
