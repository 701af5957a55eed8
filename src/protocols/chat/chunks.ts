import type { JsonObject } from "../narrow.ts";
import type { SseEvent, TranslationContext } from "../translation.ts";

/** The id of a translated chat completion: the request id, so logs and answers match. */
export function completionId(ctx: TranslationContext): string {
  return `chatcmpl-${ctx.requestId}`;
}

/**
 * The `chat.completion.chunk` events a translated stream sends a Chat Completions client: every
 * translator into chat builds them alike, with one id, time and model for the whole stream.
 */
export class ChatChunks {
  readonly #head: JsonObject;

  constructor(ctx: TranslationContext, id = completionId(ctx)) {
    this.#head = {
      id,
      object: "chat.completion.chunk",
      created: ctx.nowSecs,
      model: ctx.requestedModel,
    };
  }

  /** One chunk with a delta, and the finish reason on the last. */
  chunk(delta: JsonObject, finish: string | null = null): SseEvent {
    return {
      data: JSON.stringify({
        ...this.#head,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      }),
    };
  }

  /** The usage-only chunk that `stream_options.include_usage` asks for: no choices. */
  usage(usage: JsonObject): SseEvent {
    return { data: JSON.stringify({ ...this.#head, choices: [], usage }) };
  }
}
