import { Routes } from "./router.ts";
import { forwardingRoute } from "./routes/forwarding.ts";
import { healthRoute, modelRoute, modelsRoute, STATUS_PATH, statusRoute } from "./routes/info.ts";

/**
 * Every endpoint BitRouter serves (SPEC §4), by path. A new API adds its routes here, each a
 * small handler in src/proxy/routes/; the shared steps in front (request id, Host/Origin, auth,
 * method, the request log) stay in the handler, once.
 */
export function endpoints(): Routes {
  return new Routes()
    .add("/health", healthRoute)
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
    .add("/v1/responses", forwardingRoute({ protocol: "responses", style: "openai" }))
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
    .add("/v1/models", modelsRoute)
    .addPrefix("/v1/models/", modelRoute)
    .add(STATUS_PATH, statusRoute);
}
