/**
 * How a translated stream's events are put on the wire for the client. Most APIs stream
 * server-sent events; Ollama's API streams one JSON object per line (NDJSON), and Gemini's
 * `:streamGenerateContent` without `?alt=sse` streams the items of one JSON array as they come.
 * A translator yields events; a Framer only decides the bytes between them, so the relay
 * (SseTranslator, guardSse) is the same for every client API.
 */
import { encodeSse, type SseEvent } from "../protocols/translation.ts";

/** A client stream's framing: SSE, newline-delimited JSON, or a JSON array sent item by item. */
export type Framing = "sse" | "ndjson" | "json_array";

/** Writes one stream's events in its framing; stateful for the JSON array's brackets and commas. */
export interface Framer {
  /** The text of these events, in order. */
  events(events: SseEvent[]): string;
  /** What closes the stream (the array's `]`); empty for SSE and NDJSON, and after the first call. */
  close(): string;
}

/** The content type of a stream in this framing. */
export function contentTypeOf(framing: Framing): string {
  switch (framing) {
    case "ndjson":
      return "application/x-ndjson";
    case "json_array":
      return "application/json; charset=utf-8";
    default:
      return "text/event-stream; charset=utf-8";
  }
}

/** A fresh framer for one stream. */
export function framerFor(framing: Framing): Framer {
  if (framing === "ndjson") {
    return { events: (events) => events.map((e) => `${e.data}\n`).join(""), close: () => "" };
  }
  if (framing === "json_array") return new JsonArrayFramer();
  return { events: (events) => events.map(encodeSse).join(""), close: () => "" };
}

/**
 * Google's JSON-array stream: `[` before the first item, `,` between items, `]` at the end, each
 * item on its own lines (as Google sends it), so a client reading line by line sees whole items.
 */
class JsonArrayFramer implements Framer {
  #opened = false;
  #closed = false;

  events(events: SseEvent[]): string {
    if (this.#closed) return "";
    let out = "";
    for (const e of events) {
      out += this.#opened ? `\n,\r\n${e.data}` : `[${e.data}`;
      this.#opened = true;
    }
    return out;
  }

  close(): string {
    if (this.#closed) return "";
    this.#closed = true;
    return this.#opened ? "\n]" : "[]";
  }
}
