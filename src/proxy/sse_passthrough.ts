import type { Protocol } from "../config/protocol.ts";
import { streamErrorEvent } from "./envelope.ts";
import type { StreamCodec } from "./guard_stream.ts";

/** The text each protocol's stream ends with when the answer is complete. */
const FINAL_EVENTS: Record<Protocol, RegExp> = {
  chat_completions: /data: ?\[DONE\]/,
  messages: /message_stop/,
  responses: /response\.(completed|incomplete|failed)/,
  generate_content: /finishReason/,
};

/** How much of a stream's end is kept to look for its final event. */
const TAIL_BYTES = 512;

/** Decodes a stream's tail; stateless calls, so one serves every stream. */
const DECODER = new TextDecoder();

/**
 * A same-protocol stream (SPEC §5): bytes pass untouched, chunk by chunk; only the last chunks are
 * remembered (by reference, never copied) so that a stream ending without its final event
 * (`[DONE]`, `message_stop`, `response.completed`) gets the client's error event instead of
 * looking like a complete answer.
 */
export class SsePassthrough implements StreamCodec {
  readonly #protocol: Protocol;
  #last: Uint8Array | undefined;
  #beforeLast: Uint8Array | undefined;
  /** `finished`, once asked for since the last chunk: the end asks more than once. */
  #finished: boolean | undefined;

  constructor(protocol: Protocol) {
    this.#protocol = protocol;
  }

  /** The chunk itself. */
  chunk(bytes: Uint8Array): Uint8Array {
    if (bytes.length > 0) {
      this.#beforeLast = this.#last;
      this.#last = bytes;
      this.#finished = undefined;
    }
    return bytes;
  }

  /** Whether the stream's end holds its protocol's final event. */
  get finished(): boolean {
    return this.#finished ??= FINAL_EVENTS[this.#protocol].test(this.#tail());
  }

  /** The last TAIL_BYTES of the stream (fewer when it is shorter), as text. */
  #tail(): string {
    const last = this.#last ?? new Uint8Array(0);
    const before = this.#beforeLast;
    if (last.length >= TAIL_BYTES || !before) {
      return DECODER.decode(last.subarray(Math.max(0, last.length - TAIL_BYTES)));
    }
    const joined = new Uint8Array(Math.min(TAIL_BYTES, before.length + last.length));
    const fromBefore = joined.length - last.length;
    joined.set(before.subarray(before.length - fromBefore), 0);
    joined.set(last, fromBefore);
    return DECODER.decode(joined);
  }

  /** Nothing when the stream finished; the client's error event when it did not. */
  end(): Uint8Array {
    return this.finished
      ? new Uint8Array(0)
      : this.fail("the upstream stream ended before its final event; the answer may be cut off");
  }

  /** The client's error event. */
  fail(message: string): Uint8Array {
    return new TextEncoder().encode(streamErrorEvent(this.#protocol, message));
  }
}
