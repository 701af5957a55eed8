import { createParser } from "eventsource-parser";
import { DEFAULT_UPSTREAM_LIMITS } from "../config/types.ts";
import { mebibytes } from "./upstream_body.ts";
import type { SseEvent, StreamTranslator } from "../protocols/translation.ts";
import { type Framer, framerFor, type Framing } from "./framing.ts";
import type { Protocol } from "../config/protocol.ts";
import { mayCarryUsage, usageReader } from "../protocols/usage.ts";
import { mergeUsage, type Usage } from "../observe/usage.ts";

/** An upstream SSE line or event longer than the translator holds (`upstream.max_event_mb`). */
export class EventTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the upstream sent an SSE event over ${mebibytes(limit)} (upstream.max_event_mb)`);
    this.name = "EventTooLargeError";
  }
}
/**
 * Turns an upstream SSE byte stream into the client protocol's, event by event (SPEC §6): bytes
 * are parsed as they come, each complete event goes through the translator at once, and what it
 * returns is encoded and handed on — so the client sees the upstream's pacing, never a buffer.
 */
export class SseTranslator {
  readonly #translator: StreamTranslator;
  readonly #decoder = new TextDecoder();
  readonly #encoder = new TextEncoder();
  readonly #parser;
  readonly #framer: Framer;
  #out: SseEvent[] = [];
  /** Set once the upstream passed `maxEventBytes`: the parser refuses to go on. */
  #tooLarge: EventTooLargeError | undefined;
  /** What the upstream's events reported so far. */
  #usage: Usage | undefined;

  /**
   * `maxEventBytes` caps what the parser buffers of one line or event (counted in characters,
   * about bytes for the ASCII of JSON events): an upstream that never ends a line would otherwise
   * grow it without bound. `framing` is how the client's stream is written (SSE, or Ollama's
   * NDJSON, or Gemini's JSON array); `upstream`, the upstream's protocol, to read its usage.
   */
  constructor(
    translator: StreamTranslator,
    maxEventBytes = DEFAULT_UPSTREAM_LIMITS.maxEventBytes,
    framing: Framing = "sse",
    upstream?: Protocol,
  ) {
    this.#translator = translator;
    this.#framer = framerFor(framing);
    const reader = upstream ? usageReader(upstream) : undefined;
    this.#parser = createParser({
      onEvent: (e) => {
        // Only the few events that carry usage are parsed a second time (SPEC §9).
        if (reader && mayCarryUsage(e.data)) this.#readUsage(reader.fromBody, e.data);
        this.#out.push(...translator.push({ event: e.event, data: e.data }));
      },
      onError: (e) => {
        if (e.type === "max-buffer-size-exceeded") {
          this.#tooLarge = new EventTooLargeError(maxEventBytes);
        }
      },
      maxBufferSize: maxEventBytes,
    });
  }

  /**
   * The client bytes one upstream chunk becomes; empty when it completed no event. Throws an
   * EventTooLargeError when the upstream passed the event cap: the stream must end there (with
   * `fail`), and its upstream be cancelled.
   */
  chunk(bytes: Uint8Array): Uint8Array {
    if (this.#tooLarge) throw this.#tooLarge;
    this.#parser.feed(this.#decoder.decode(bytes, { stream: true }));
    if (this.#tooLarge) throw this.#tooLarge;
    return this.#drain();
  }

  /**
   * The closing bytes when the upstream body ended: its remaining events, and the client's error
   * event when the upstream never sent its terminator (a cut-off answer must not look finished).
   */
  end(): Uint8Array {
    if (this.#tooLarge) return this.fail(this.#tooLarge.message);
    this.#parser.feed(this.#decoder.decode());
    this.#parser.reset({ consume: true });
    if (this.#translator.finished) this.#out.push(...this.#translator.end());
    else {
      this.#out.push(
        ...this.#translator.fail("the upstream stream ended before its final event"),
      );
    }
    return this.#drain(true);
  }

  /** Whether the upstream's final event has been seen. */
  get finished(): boolean {
    return this.#translator.finished;
  }

  /** The usage the upstream's events reported, merged; undefined when none did. */
  usage(): Usage | undefined {
    return this.#usage;
  }

  #readUsage(fromBody: (body: unknown) => Usage | undefined, data: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    this.#usage = mergeUsage(this.#usage, fromBody(parsed));
  }

  /** The client's error event for a stream that broke. */
  fail(message: string): Uint8Array {
    this.#out.push(...this.#translator.fail(message));
    return this.#drain(true);
  }

  /** The client bytes of the events so far; `last`: the stream ends with them. */
  #drain(last = false): Uint8Array {
    if (this.#out.length === 0 && !last) return EMPTY;
    const text = this.#framer.events(this.#out) + (last ? this.#framer.close() : "");
    this.#out = [];
    return text === "" ? EMPTY : this.#encoder.encode(text);
  }
}

const EMPTY = new Uint8Array(0);
