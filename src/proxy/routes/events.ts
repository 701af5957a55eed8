import type { CapacityBook } from "../../routing/capacity.ts";
import type { HealthBook } from "../../routing/health.ts";
import type { RouteTable } from "../../routing/route_table.ts";
import type { RequestRecord } from "../../observe/log.ts";
import { recentRequestOf } from "../../observe/recent_requests.ts";
import type { Route } from "../router.ts";
import type { LiveStatus } from "./info.ts";
import type { StatusSources } from "./overview.ts";

/** Where the dashboard (and anyone) follows the server live: server-sent events. */
export const EVENTS_PATH = "/v1/bitrouter/events";

/** How the event stream is bounded and paced. */
export interface EventLimits {
  /** Streams open at once; one more gets 503 with Retry-After. */
  maxSubscribers: number;
  /** Bytes of events waiting for a client that does not read; past it the client is dropped. */
  maxQueuedBytes: number;
  /** How often the status is looked at for a change. */
  statusEveryMs: number;
  /** How often a comment keeps idle proxies from closing the stream. */
  pingEveryMs: number;
}

/**
 * The defaults: 16 streams, 1 MiB queued per stream (a few full statuses of a large config, or
 * thousands of requests), status checked every second, a ping every 15 s.
 */
export const EVENT_LIMITS: EventLimits = {
  maxSubscribers: 16,
  maxQueuedBytes: 1024 * 1024,
  statusEveryMs: 1_000,
  pingEveryMs: 15_000,
};

const encoder = new TextEncoder();

interface Subscriber {
  controller: ReadableStreamDefaultController<Uint8Array>;
  /** The last status sent (without `recent`), to send only a change. */
  lastStatus: string;
  /** Ends the stream: closed (what was queued is still sent), or errored (dropped). */
  end(drop?: boolean): void;
}

/**
 * `GET /v1/bitrouter/events` (behind the key, like the status): a `text/event-stream` of
 * `event: status` (the full status at connect; then, without `recent`, whenever it changed —
 * looked at once a second, for all streams at once), `event: request` (each finished request as
 * it finishes, the shape of the status's `recent` entries) and a `: ping` comment every 15 s.
 * Nothing runs while no stream is open; every timer stops when the last client goes or the
 * server begins to shut down (`sources.stopping`), so an open dashboard never holds a drain.
 */
export function eventsRoute(
  status: LiveStatus,
  sources: StatusSources,
  limits: EventLimits = EVENT_LIMITS,
): Route {
  const subscribers = new Set<Subscriber>();
  let latest: { table: RouteTable; health: HealthBook; capacity: CapacityBook | undefined };
  let statusTimer: ReturnType<typeof setInterval> | undefined;
  let pingTimer: ReturnType<typeof setInterval> | undefined;
  let stopListening: (() => void) | undefined;
  let looking = false;
  /** Streams past the limit check that are still reading their first status. */
  let connecting = 0;

  const send = (s: Subscriber, bytes: Uint8Array) => {
    if ((s.controller.desiredSize ?? 0) <= 0) {
      // A client that stopped reading: its queue would grow without bound.
      s.end(true);
      return;
    }
    s.controller.enqueue(bytes);
  };
  const broadcast = (text: string) => {
    const bytes = encoder.encode(text);
    for (const s of subscribers) send(s, bytes);
  };
  const onRequest = (record: RequestRecord, timeMs: number) => {
    broadcast(`event: request\ndata: ${JSON.stringify(recentRequestOf(record, timeMs))}\n\n`);
  };
  const lookForChange = async () => {
    if (looking || subscribers.size === 0) return;
    looking = true;
    try {
      const table = sources.routes?.() ?? latest.table;
      const { recent: _, ...now } = await status(table, latest.health, latest.capacity);
      const text = JSON.stringify(now);
      for (const s of subscribers) {
        if (s.lastStatus === text) continue;
        s.lastStatus = text;
        send(s, encoder.encode(`event: status\ndata: ${text}\n\n`));
      }
    } finally {
      looking = false;
    }
  };
  const start = () => {
    stopListening = sources.recent?.listen(onRequest);
    statusTimer = setInterval(() => void lookForChange().catch(() => {}), limits.statusEveryMs);
    pingTimer = setInterval(() => broadcast(": ping\n\n"), limits.pingEveryMs);
  };
  const stop = () => {
    stopListening?.();
    stopListening = undefined;
    clearInterval(statusTimer);
    clearInterval(pingTimer);
    statusTimer = pingTimer = undefined;
  };
  sources.stopping?.addEventListener("abort", () => {
    for (const s of [...subscribers]) s.end();
  }, { once: true });

  return {
    methods: ["GET"],
    style: "openai",
    label: EVENTS_PATH,
    handle: async ({ request, table, deps, requestId, fail }) => {
      const shuttingDown = () =>
        fail({
          status: 503,
          type: "server_error",
          code: "shutting_down",
          message: "BitRouter is shutting down",
        }, { "retry-after": "5" });
      if (sources.stopping?.aborted) return shuttingDown();
      if (subscribers.size + connecting >= limits.maxSubscribers) {
        return fail({
          status: 503,
          type: "server_error",
          code: "too_many_streams",
          message:
            `${limits.maxSubscribers} event streams are open already (each dashboard tab holds one); close one and try again`,
        }, { "retry-after": "10" });
      }
      latest = { table, health: deps.health, capacity: deps.capacity };
      let first;
      connecting++;
      try {
        first = await status(table, deps.health, deps.capacity);
      } finally {
        connecting--;
      }
      // The shutdown may have begun while the first status was read: its streams are ended.
      if (sources.stopping?.aborted) return shuttingDown();
      const { recent: _, ...rest } = first;
      let subscriber: Subscriber;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          let ended = false;
          subscriber = {
            controller,
            lastStatus: JSON.stringify(rest),
            end(drop) {
              if (ended) return;
              ended = true;
              subscribers.delete(subscriber);
              if (subscribers.size === 0) stop();
              request.signal.removeEventListener("abort", onAbort);
              try {
                if (drop) controller.error(new Error("the client stopped reading events"));
                else controller.close();
              } catch { /* already closed or errored */ }
            },
          };
          const onAbort = () => subscriber.end(true);
          request.signal.addEventListener("abort", onAbort, { once: true });
          if (subscribers.size === 0) start();
          subscribers.add(subscriber);
          controller.enqueue(
            encoder.encode(`retry: 2000\nevent: status\ndata: ${JSON.stringify(first)}\n\n`),
          );
          if (request.signal.aborted) subscriber.end(true);
        },
        cancel() {
          subscriber.end(true);
        },
      }, new ByteLengthQueuingStrategy({ highWaterMark: limits.maxQueuedBytes }));
      return new Response(body, {
        headers: {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-store",
          "x-accel-buffering": "no",
          "x-request-id": requestId,
        },
      });
    },
  };
}
