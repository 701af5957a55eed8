import { Routes } from "./router.ts";
import { Metrics } from "../observe/metrics.ts";
import { METRICS_PATH, metricsRoute } from "./routes/metrics.ts";
import { forwardingRoute } from "./routes/forwarding.ts";
import { createResponseRoute, RESPONSES_PREFIX, storedResponseRoute } from "./routes/responses.ts";
import { MemoryResponseStore, type ResponseStore } from "../protocols/responses/store.ts";
import {
  healthRoute,
  liveStatus,
  modelRoute,
  modelsRoute,
  STATUS_PATH,
  statusRouteWith,
} from "./routes/info.ts";
import type { StatusSources } from "./routes/overview.ts";
import { EVENTS_PATH, eventsRoute } from "./routes/events.ts";
import { DASHBOARD_PATHS, dashboardRoute } from "./routes/dashboard.ts";
import { ollamaBlobsRoute, ollamaRoutes } from "./routes/ollama.ts";
import {
  GEMINI_MODELS,
  geminiModelRoute,
  geminiModelsRoute,
  geminiOrOpenai,
} from "./routes/gemini.ts";

/**
 * Every endpoint BitRouter serves (SPEC §4), by path. A new API adds its routes here, each a
 * small handler in src/proxy/routes/; the shared steps in front (request id, Host/Origin, auth,
 * method, the request log) stay in the handler, once. `responseStore` keeps the stored responses
 * (default: a new in-memory one, for as long as the handler lives); `metrics` is what `/metrics`
 * shows; `status` is what the status endpoint and the dashboard show beyond the handler's books.
 */
export function endpoints(
  responseStore: ResponseStore = new MemoryResponseStore(),
  metrics: Metrics = new Metrics(),
  status: StatusSources = {},
): Routes {
  // The status endpoint and the dashboard's event stream share one view of `status`' sources.
  const live = liveStatus(status);
  const routes = new Routes()
    .add("/health", healthRoute)
    .add(METRICS_PATH, metricsRoute(metrics))
    .add(
      "/v1/chat/completions",
      forwardingRoute({
        protocol: "chat_completions",
        style: "openai",
        requires: "messages",
      }),
    )
    .add(
      "/v1/messages",
      forwardingRoute({
        protocol: "messages",
        style: "anthropic",
        requires: "messages",
      }),
    )
    .add(
      "/v1/messages/count_tokens",
      forwardingRoute({
        protocol: "messages",
        style: "anthropic",
        path: "/messages/count_tokens",
        requires: "messages",
      }),
    )
    .add("/v1/responses", createResponseRoute(responseStore))
    .addPrefix(RESPONSES_PREFIX, storedResponseRoute(responseStore))
    .add(
      "/v1/completions",
      forwardingRoute({
        protocol: "chat_completions",
        style: "openai",
        path: "/completions",
      }),
    )
    .add(
      "/v1/embeddings",
      forwardingRoute({
        protocol: "chat_completions",
        style: "openai",
        path: "/embeddings",
      }),
    )
    // Also Gemini's `v1` paths, for Google's libraries (routes/gemini.ts).
    .add("/v1/models", geminiOrOpenai(modelsRoute, geminiModelsRoute))
    .addPrefix("/v1/models/", geminiOrOpenai(modelRoute, geminiModelRoute))
    .add(STATUS_PATH, statusRouteWith(live))
    .add(EVENTS_PATH, eventsRoute(live, status))
    // Gemini's API (SPEC §4): the model and the action are in the path.
    .add(GEMINI_MODELS, geminiModelsRoute)
    .addPrefix(`${GEMINI_MODELS}/`, geminiModelRoute)
    .addPrefix("/api/blobs/", ollamaBlobsRoute);
  // Ollama's API (SPEC §4).
  for (const [path, route] of ollamaRoutes()) routes.add(path, route);
  // The dashboard (issue 17): a page that reads the status and the event stream.
  for (const path of DASHBOARD_PATHS) routes.add(path, dashboardRoute(path));
  return routes;
}
