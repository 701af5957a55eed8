/**
 * A `fetch` for the official SDKs that answers every request with a given body, so a
 * translation's output can be fed to the SDKs' own parsers without a server.
 */

import { encodeSse, type SseEvent } from "../../src/protocols/translation.ts";

/** A fetch that answers with these SSE events as an event stream, sent one event per chunk. */
export function sseFetch(events: SseEvent[]): typeof fetch {
  return (input, init) => {
    // The SDKs send their body; drain nothing, but honour an abort as fetch would.
    init?.signal?.throwIfAborted();
    void input;
    const encoder = new TextEncoder();
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (i === events.length) return controller.close();
        controller.enqueue(encoder.encode(encodeSse(events[i++])));
      },
    });
    return Promise.resolve(
      new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } }),
    );
  };
}

/** A fetch that answers with this JSON body and status. */
export function jsonFetch(body: unknown, status = 200): typeof fetch {
  return () =>
    Promise.resolve(
      new Response(JSON.stringify(body), {
        status,
        headers: { "content-type": "application/json" },
      }),
    );
}
