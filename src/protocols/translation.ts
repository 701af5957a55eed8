/**
 * The contract every translation between two wire formats implements (SPEC §6). A translation is
 * named by the client's protocol and the upstream's: `messages → chat_completions` turns an
 * Anthropic Messages request into a Chat Completions request, and the Chat Completions answer
 * (whole or streamed) back into a Messages answer.
 *
 * Everything here is pure: no fetch, no timers, no I/O. The proxy parses the upstream's SSE,
 * hands each event to a StreamTranslator and writes what it returns, so pacing is the upstream's.
 */
import type { SystemMessageMode } from "../config/types.ts";

/** One server-sent event: its `event:` name, if any, and its `data:` text (JSON, or `[DONE]`). */
export interface SseEvent {
  event?: string;
  data: string;
}

/** The text of one event on the wire. */
export function encodeSse(e: SseEvent): string {
  return (e.event ? `event: ${e.event}\n` : "") + `data: ${e.data}\n\n`;
}

/**
 * What a translation may want to know about the request it serves. The proxy hands the same
 * object to request() and to response() / stream() of one request, so a translation may note
 * per-request facts against it (e.g. in a WeakMap keyed by it).
 */
export interface TranslationContext {
  /** The model the client asked for, as written (e.g. `ollama:qwen2.5-coder`). */
  requestedModel: string;
  /** The model id sent upstream. */
  upstreamModel: string;
  /** BitRouter's request id, usable to make response/message ids. */
  requestId: string;
  /** Seconds since the epoch, for `created` / `created_at` fields. */
  nowSecs: number;
  /**
   * For a Chat Completions upstream: what becomes of a system message after the conversation
   * began (the provider's `compatibility.chat_completions.system_messages`; default `merge`).
   */
  systemMessages?: SystemMessageMode;
  /**
   * Told the finished Responses object a translation made for a Responses client (whole, or at
   * the end of a stream, when it completed or stopped incomplete): how BitRouter stores it.
   */
  onResponse?: (response: Record<string, unknown>) => void;
  /**
   * BitRouter's clock (ms) and when it received the request on it: Ollama's answers report
   * durations (`total_duration`, `eval_duration`) from these; absent, they are 0.
   */
  now?: () => number;
  startedAtMs?: number;
  /** The upstream's server kind when known (`vllm`, `llamacpp`, …): which extra knobs it takes. */
  upstreamKind?: string;
}

/** A request that cannot be expressed in the upstream's protocol: answered 400 in the client's envelope. */
export class TranslationError extends Error {
  constructor(message: string, readonly param?: string) {
    super(message);
    this.name = "TranslationError";
  }
}

/** Turns one upstream stream into the client's, event by event. */
export interface StreamTranslator {
  /** The client events one upstream event becomes, to be sent at once (never held back). */
  push(event: SseEvent): SseEvent[];
  /**
   * The upstream body ended. When its terminator (`[DONE]`, `message_stop`,
   * `response.completed`) was seen, these are any closing events still owed; when it was not,
   * the caller sends `fail(...)` instead, so a truncated answer never looks finished.
   */
  end(): SseEvent[];
  /** Whether the upstream's terminator has been seen. */
  readonly finished: boolean;
  /** The client protocol's error event(s) for a stream that broke after its first byte. */
  fail(message: string): SseEvent[];
}

/** One direction of translation: the request one way, the answer (whole, streamed, or an error) back. */
export interface Translation {
  /** The upstream request body for a client request body; `model` is set to ctx.upstreamModel. Throws TranslationError. */
  request(body: Record<string, unknown>, ctx: TranslationContext): Record<string, unknown>;
  /** The client's answer for the upstream's whole (non-streamed) JSON answer. */
  response(body: unknown, ctx: TranslationContext): unknown;
  /** A fresh translator for one streamed answer. */
  stream(ctx: TranslationContext): StreamTranslator;
  /**
   * The client-protocol error body for an upstream error answer that is returned to the client
   * (400/413/422, or the last attempt's), given the upstream's status and parsed body (or text).
   */
  error(status: number, body: unknown): unknown;
}
