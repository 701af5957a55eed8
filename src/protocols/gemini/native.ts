/**
 * A Gemini client served by a Gemini upstream. The body goes on as the client sent it, without
 * the `model` and `stream` BitRouter read from the URL (Google refuses fields it does not know);
 * answers come back as they are. The upstream is always asked to stream SSE (`?alt=sse`), and
 * the relay writes its events in the client's framing — SSE again, or the JSON array of a
 * client that did not ask for `alt=sse` — so both reach the client chunk by chunk.
 */
import { isRecord, type JsonObject, parseJson, records } from "../narrow.ts";
import type { SseEvent, StreamTranslator, Translation } from "../translation.ts";
import { googleError, googleErrorBody } from "./errors.ts";

/** Gemini client, Gemini upstream. */
export const geminiNative: Translation = {
  request(body) {
    const { model: _model, stream: _stream, ...rest } = body;
    return rest;
  },
  response: (body) => body,
  stream: () => new GeminiRelay(),
  error: googleErrorBody,
};

/** Gemini's events as they come; a response with a `finishReason` (or an error) is the last. */
class GeminiRelay implements StreamTranslator {
  finished = false;

  push(event: SseEvent): SseEvent[] {
    if (this.finished) return [];
    const body = parseJson(event.data);
    if (!isRecord(body)) return [];
    if (body.error !== undefined) this.finished = true;
    const candidate: JsonObject | undefined = records(body.candidates)[0];
    if (candidate?.finishReason !== undefined) this.finished = true;
    return [{ data: event.data }];
  }

  end(): SseEvent[] {
    return [];
  }

  fail(message: string): SseEvent[] {
    this.finished = true;
    return [{ data: JSON.stringify(googleError(500, message)) }];
  }
}
