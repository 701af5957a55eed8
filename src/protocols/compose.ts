/**
 * Two translations chained through a pivot protocol: `first` is client-via-pivot and `second` is
 * pivot-via-upstream, e.g. Responses via Chat Completions then Chat Completions via Messages makes
 * Responses via Messages. Requests go through first then second; answers, streams and errors come
 * back through second then first.
 */
import type { SseEvent, StreamTranslator, Translation } from "./translation.ts";

/** The translation from first's client protocol to second's upstream protocol. */
export function compose(first: Translation, second: Translation): Translation {
  return {
    request: (body, ctx) => second.request(first.request(body, ctx), ctx),
    response: (body, ctx) => first.response(second.response(body, ctx), ctx),
    stream: (ctx) => composeStreams(first.stream(ctx), second.stream(ctx)),
    error: (status, body) => first.error(status, second.error(status, body)),
  };
}

function composeStreams(outer: StreamTranslator, inner: StreamTranslator): StreamTranslator {
  const through = (events: SseEvent[]) => events.flatMap((e) => outer.push(e));
  return {
    push: (event) => through(inner.push(event)),
    end() {
      const out = through(inner.end());
      // The upstream's terminator was seen, so the pivot stream must have closed too; if the
      // inner translator still owed its terminator, the outer one would look truncated: say so.
      if (inner.finished && !outer.finished) {
        return [...out, ...outer.fail("the translated stream ended before its end")];
      }
      return [...out, ...outer.end()];
    },
    // Whether the upstream's terminator was seen: the inner translator is the one that reads it.
    get finished() {
      return inner.finished;
    },
    // The client's error events come from the outer translator, which speaks the client protocol.
    fail: (message) => outer.fail(message),
  };
}
