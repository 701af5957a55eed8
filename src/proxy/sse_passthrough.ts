import type { Protocol } from "../config/protocol.ts";
import { streamErrorEvent } from "./envelope.ts";
import type { StreamCodec } from "./guard_stream.ts";
import { mergeUsage, type Usage } from "../observe/usage.ts";
import { usageFromText } from "../protocols/usage.ts";

/** The text each protocol's stream ends with when the answer is complete. */
const FINAL_EVENTS: Record<Protocol, RegExp> = {
  chat_completions: /data: ?\[DONE\]/,
  messages: /message_stop/,
  responses: /response\.(completed|incomplete|failed)/,
  generate_content: /finishReason/,
};

/** How much of a stream's end is looked at for its final event. */
const TAIL_BYTES = 512;

/**
 * How much of a stream's end is kept (by reference) to read its usage from: the last usage
 * object sits in the final events (a chat usage chunk, `message_delta`, `response.completed`
 * whose usage comes after the response's output).
 */
const USAGE_TAIL_BYTES = 16 * 1024;

/** How much of a Messages stream's start is kept: `message_start` carries the input counts. */
const HEAD_BYTES = 4 * 1024;

/** Decodes a stream's tail; stateless calls, so one serves every stream. */
const DECODER = new TextDecoder();

/** What a same-protocol stream does beyond passing bytes on. */
export interface PassthroughOptions {
  /**
   * BitRouter asked the upstream for usage (`stream_options.include_usage`) and the client did
   * not: the usage-only chunk (empty `choices`) is taken out of what the client receives.
   */
  dropUsageChunk?: boolean;
}

/**
 * A same-protocol stream (SPEC §5): bytes pass untouched, chunk by chunk; only the last chunks are
 * remembered (by reference, never copied) so that a stream ending without its final event
 * (`[DONE]`, `message_stop`, `response.completed`) gets the client's error event instead of
 * looking like a complete answer, and so that its usage can be read from its end, once, without
 * parsing any event on the way (SPEC §9).
 */
export class SsePassthrough implements StreamCodec {
  readonly #protocol: Protocol;
  readonly #dropUsageChunk: boolean;
  /** The stream's last chunks, oldest first, covering at least USAGE_TAIL_BYTES when it is that long. */
  readonly #kept: Uint8Array[] = [];
  #keptBytes = 0;
  /** The first chunk of a Messages stream. */
  #head: Uint8Array | undefined;
  /** Usage read from a usage chunk taken out of the stream. */
  #dropped: Usage | undefined;
  /** `finished`, once asked for since the last chunk: the end asks more than once. */
  #finished: boolean | undefined;

  constructor(protocol: Protocol, options: PassthroughOptions = {}) {
    this.#protocol = protocol;
    this.#dropUsageChunk = options.dropUsageChunk === true && protocol === "chat_completions";
  }

  /** The chunk itself (without the usage-only chunk, when that is to be dropped). */
  chunk(bytes: Uint8Array): Uint8Array {
    if (bytes.length === 0) return bytes;
    if (this.#dropUsageChunk && this.#dropped === undefined) {
      bytes = this.#withoutUsageChunk(bytes);
      if (bytes.length === 0) return bytes;
    }
    if (this.#head === undefined && this.#protocol === "messages") this.#head = bytes;
    const kept = this.#kept;
    kept.push(bytes);
    this.#keptBytes += bytes.length;
    while (kept.length > 1 && this.#keptBytes - kept[0].length >= USAGE_TAIL_BYTES) {
      this.#keptBytes -= kept.shift()!.length;
    }
    this.#finished = undefined;
    return bytes;
  }

  /** Whether the stream's end holds its protocol's final event. */
  get finished(): boolean {
    return this.#finished ??= FINAL_EVENTS[this.#protocol].test(this.#tail(TAIL_BYTES));
  }

  /**
   * The usage the stream reported, read once from its end (and a Messages stream's start);
   * undefined when it reported none.
   */
  usage(): Usage | undefined {
    if (this.#dropped) return this.#dropped;
    let found = usageFromText(this.#protocol, this.#tail(2048));
    if (!found && this.#keptBytes > 2048) {
      found = usageFromText(this.#protocol, this.#tail(USAGE_TAIL_BYTES));
    }
    if (this.#protocol === "messages" && this.#head) {
      const start = usageFromText(
        "messages",
        DECODER.decode(this.#head.subarray(0, HEAD_BYTES)),
      );
      found = mergeUsage(start, found);
    }
    return found;
  }

  /** The last `max` bytes of the stream (fewer when it is shorter), as text. */
  #tail(max: number): string {
    const kept = this.#kept;
    const last = kept[kept.length - 1] ?? new Uint8Array(0);
    if (last.length >= max || kept.length < 2) {
      return DECODER.decode(last.subarray(Math.max(0, last.length - max)));
    }
    const joined = new Uint8Array(Math.min(max, this.#keptBytes));
    let at = joined.length;
    for (let i = kept.length - 1; i >= 0 && at > 0; i--) {
      const part = kept[i];
      const take = Math.min(part.length, at);
      joined.set(part.subarray(part.length - take), at - take);
      at -= take;
    }
    return DECODER.decode(joined);
  }

  /**
   * The chunk without a usage-only chat chunk (`"choices":[]`) when it holds one whole; found by
   * scanning bytes for `[]`, not by parsing events. Its usage is kept for the request's record.
   */
  #withoutUsageChunk(bytes: Uint8Array): Uint8Array {
    const at = emptyChoicesAt(bytes);
    if (at < 0) return bytes;
    const start = eventStart(bytes, at);
    const end = eventEnd(bytes, at);
    if (start < 0 || end < 0) return bytes;
    const event = DECODER.decode(bytes.subarray(start, end));
    const usage = usageFromText("chat_completions", event);
    if (!usage) return bytes;
    this.#dropped = usage;
    const out = new Uint8Array(bytes.length - (end - start));
    out.set(bytes.subarray(0, start), 0);
    out.set(bytes.subarray(end), start);
    return out;
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

const CHOICES = new TextEncoder().encode('"choices"');

/** Where `"choices":[]` (spaces allowed around `:`) starts in bytes, or -1. */
function emptyChoicesAt(bytes: Uint8Array): number {
  for (let i = bytes.indexOf(0x5b); i >= 0; i = bytes.indexOf(0x5b, i + 1)) {
    let j = i + 1;
    while (bytes[j] === 0x20) j++;
    if (bytes[j] !== 0x5d) continue;
    let k = i - 1;
    while (k >= 0 && bytes[k] === 0x20) k--;
    if (bytes[k] !== 0x3a) continue;
    k--;
    while (k >= 0 && bytes[k] === 0x20) k--;
    const from = k - CHOICES.length + 1;
    if (from < 0) continue;
    let same = true;
    for (let n = 0; n < CHOICES.length && same; n++) same = bytes[from + n] === CHOICES[n];
    if (same) return from;
  }
  return -1;
}

/** The start of the event holding position at: just after the previous blank line, or 0 when the chunk begins with `data:`; -1 when the event began in an earlier chunk. */
function eventStart(bytes: Uint8Array, at: number): number {
  for (let i = at - 1; i >= 1; i--) {
    if (bytes[i] === 0x0a && bytes[i - 1] === 0x0a) return i + 1;
  }
  return startsWithData(bytes) ? 0 : -1;
}

/** The end of the event holding position at, its blank line included; -1 when it goes on in a later chunk. */
function eventEnd(bytes: Uint8Array, at: number): number {
  for (let i = at; i < bytes.length - 1; i++) {
    if (bytes[i] === 0x0a && bytes[i + 1] === 0x0a) return i + 2;
  }
  return -1;
}

function startsWithData(bytes: Uint8Array): boolean {
  return bytes[0] === 0x64 && bytes[1] === 0x61 && bytes[2] === 0x74 && bytes[3] === 0x61;
}
