import type { Metrics } from "../../observe/metrics.ts";
import type { Route } from "../router.ts";

/** Where Prometheus scrapes. */
export const METRICS_PATH = "/metrics";

/**
 * `GET /metrics` (SPEC §4, §8): the Prometheus text format, behind the same key as `/v1`
 * unless `server.metrics_public: true` (the Host/Origin checks stay either way).
 */
export function metricsRoute(metrics: Metrics): Route {
  return {
    methods: ["GET", "HEAD"],
    style: "openai",
    label: "metrics",
    keyless: (server) => server.metricsPublic === true,
    handle: (ctx) =>
      new Response(
        ctx.request.method === "HEAD" ? null : metrics.render(ctx.table, {
          health: ctx.deps.health,
          capacity: ctx.deps.capacity,
        }),
        {
          headers: {
            "content-type": "text/plain; version=0.0.4; charset=utf-8",
            "cache-control": "no-store",
            "x-request-id": ctx.requestId,
          },
        },
      ),
  };
}
