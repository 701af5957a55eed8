import { type ErrorStyle, streamErrorEvent } from "./envelope.ts";

/** How a relayed body ended: undefined when it finished cleanly. */
export type BodyOutcome =
  | undefined
  | "client_gone"
  | "upstream_error"
  | "idle_timeout"
  | "total_timeout";

/** What the relay needs to watch one upstream body. */
export interface GuardOptions {
  /** Aborting it tears down the upstream request. */
  upstream: AbortController;
  idleMs: number;
  /** Milliseconds left of `total_secs`, if set. */
  totalMs?: number;
  /** Set for SSE bodies: the protocol whose error event ends a broken stream (SPEC §5). */
  sseStyle?: ErrorStyle;
  /** Which provider, for the in-band error message. */
  provider: string;
  now: () => number;
  onEnd: (outcome: BodyOutcome, error?: string) => void;
}

/** Marks an abort that BitRouter itself decided, so the reason can be told apart from a network error. */
export class TimeLimitError extends DOMException {
  constructor(message: string, readonly limit: "first_byte" | "connect" | "idle" | "total") {
    super(message, "TimeoutError");
  }
}

/**
 * Relays an upstream body chunk by chunk as it arrives — no buffering, no re-encoding — while
 * enforcing the idle and total limits, and ending a broken SSE stream with an error event.
 */
export function guardBody(
  body: ReadableStream<Uint8Array>,
  o: GuardOptions,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let waitingSince = -1;
  let ended = false;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  let totalTimer: ReturnType<typeof setTimeout> | undefined;

  const checkIdle = () => {
    idleTimer = undefined;
    if (ended) return;
    const waited = waitingSince < 0 ? 0 : o.now() - waitingSince;
    if (waited >= o.idleMs) {
      o.upstream.abort(
        new TimeLimitError(
          `upstream ${o.provider} sent nothing for ${o.idleMs / 1000}s (idle_secs)`,
          "idle",
        ),
      );
      return;
    }
    idleTimer = setTimeout(checkIdle, o.idleMs - waited);
  };
  idleTimer = setTimeout(checkIdle, o.idleMs);
  if (o.totalMs !== undefined) {
    totalTimer = setTimeout(() => {
      o.upstream.abort(new TimeLimitError(`upstream ${o.provider} exceeded total_secs`, "total"));
    }, Math.max(0, o.totalMs));
  }

  const end = (outcome: BodyOutcome, error?: string) => {
    if (ended) return;
    ended = true;
    clearTimeout(idleTimer);
    clearTimeout(totalTimer);
    o.onEnd(outcome, error);
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      waitingSince = o.now();
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        const reason = o.upstream.signal.aborted ? o.upstream.signal.reason : e;
        const limit = reason instanceof TimeLimitError ? reason.limit : undefined;
        const message = reason instanceof Error ? reason.message : String(reason);
        const outcome = limit === "idle"
          ? "idle_timeout"
          : limit === "total"
          ? "total_timeout"
          : "upstream_error";
        end(outcome, message);
        o.upstream.abort();
        if (o.sseStyle) {
          controller.enqueue(
            new TextEncoder().encode(
              streamErrorEvent(o.sseStyle, `the stream from ${o.provider} broke off: ${message}`),
            ),
          );
          controller.close();
        } else controller.error(reason);
        return;
      }
      waitingSince = -1;
      if (chunk.done) {
        end(undefined);
        controller.close();
      } else controller.enqueue(chunk.value);
    },
    cancel(reason) {
      end("client_gone");
      o.upstream.abort(reason);
      reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
