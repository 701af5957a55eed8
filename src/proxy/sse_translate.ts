import { createParser } from "eventsource-parser";
import { encodeSse, type SseEvent, type StreamTranslator } from "../protocols/translation.ts";

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
  #out: SseEvent[] = [];

  constructor(translator: StreamTranslator) {
    this.#translator = translator;
    this.#parser = createParser({
      onEvent: (e) => {
        this.#out.push(...translator.push({ event: e.event, data: e.data }));
      },
    });
  }

  /** The client bytes one upstream chunk becomes; empty when it completed no event. */
  chunk(bytes: Uint8Array): Uint8Array {
    this.#parser.feed(this.#decoder.decode(bytes, { stream: true }));
    return this.#drain();
  }

  /**
   * The closing bytes when the upstream body ended: its remaining events, and the client's error
   * event when the upstream never sent its terminator (a cut-off answer must not look finished).
   */
  end(): Uint8Array {
    this.#parser.feed(this.#decoder.decode());
    this.#parser.reset({ consume: true });
    if (this.#translator.finished) this.#out.push(...this.#translator.end());
    else {
      this.#out.push(
        ...this.#translator.fail("the upstream stream ended before its final event"),
      );
    }
    return this.#drain();
  }

  /** Whether the upstream's final event has been seen. */
  get finished(): boolean {
    return this.#translator.finished;
  }

  /** The client's error event for a stream that broke. */
  fail(message: string): Uint8Array {
    this.#out.push(...this.#translator.fail(message));
    return this.#drain();
  }

  #drain(): Uint8Array {
    if (this.#out.length === 0) return EMPTY;
    const text = this.#out.map(encodeSse).join("");
    this.#out = [];
    return this.#encoder.encode(text);
  }
}

const EMPTY = new Uint8Array(0);
