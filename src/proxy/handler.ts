import type { RouteTable } from "../routing/route_table.ts";
import type { Provider } from "../config/types.ts";
import { type ErrorBody, errorResponse } from "./envelope.ts";
import type { ForwardDeps } from "./forward.ts";
import { isAuthorized, keyLabel } from "./auth.ts";
import { createGuard } from "./guard.ts";
import { sanitizeRequestId } from "./headers.ts";
import { createDeadlines, type Deadlines } from "./deadlines.ts";
import { HealthBook } from "../routing/health.ts";
import { CapacityBook } from "../routing/capacity.ts";
import { AffinityTable } from "../routing/affinity.ts";
import { endpointsOf } from "../routing/resolve.ts";
import { methodNotAllowed, type RequestContext, type Routes } from "./router.ts";
import { endpoints } from "./endpoints.ts";
import type { Metrics } from "../observe/metrics.ts";
import type { StatusSources } from "./routes/overview.ts";

export { STATUS_PATH } from "./routes/info.ts";
export type { ServerStatus } from "./routes/info.ts";

/** What the handler is built from. */
export interface HandlerOptions extends Omit<ForwardDeps, "deadlines" | "health"> {
  /**
   * The route table to use for the next request. A function, so that a reload or a discovery
   * round can swap in a new table while running requests keep the one they started with.
   */
  routes: () => RouteTable;
  /** Seconds since the epoch reported as `created` in /v1/models. */
  startedAtSecs?: number;
  /** Endpoint health to share (e.g. across a reload's new handler); default: a new book. */
  health?: HealthBook;
  /** Capacity state to share, like `health`; default: a new book (SPEC §3.5). */
  capacity?: CapacityBook;
  /** The shared timer of every time limit; default: a new one. Its owner may `clear()` it. */
  deadlines?: Deadlines;
  /** The endpoints to serve; default: every endpoint of SPEC §4. */
  endpoints?: Routes;
  /** What `/metrics` shows; default: a new Metrics that only the handler's own books feed. */
  metrics?: Metrics;
  /** What the status endpoint and the dashboard show beyond the books (recent requests, usage). */
  status?: StatusSources;
}

/** A web-standard request handler for one config: `(Request) => Promise<Response>` (STYLE). */
export type Handler = (request: Request) => Promise<Response>;

/**
 * Builds the HTTP handler of SPEC §4: the shared front steps — request id, Host and Origin
 * (SPEC §11), the endpoint by path, key, method — once, then the endpoint's own handler.
 */
export function createHandler(options: HandlerOptions): Handler {
  const { log } = options;
  const createdSecs = options.startedAtSecs ?? Math.floor(Date.now() / 1000);
  const routes = options.endpoints ?? endpoints(undefined, options.metrics, options.status);
  let lastTable = options.routes();
  const health = options.health ?? new HealthBook(lastTable.config.health, options.now);
  const deps: ForwardDeps = {
    fetch: options.fetch,
    now: options.now,
    log,
    deadlines: options.deadlines ?? createDeadlines(options.now),
    health,
    drain: options.drain,
    capacity: options.capacity ?? new CapacityBook(options.now),
    affinity: new AffinityTable(),
  };
  deps.capacity!.configure(endpointsOfTable(lastTable));
  let guard = createGuard(lastTable.config.server);

  return async function handle(request): Promise<Response> {
    const startedAt = options.now();
    // The table this request keeps to the end, even if a reload swaps in another meanwhile.
    const table = options.routes();
    if (table !== lastTable) {
      // A reload or a discovery round: new settings. An endpoint's record survives while its
      // provider exists at the same address; one that left or moved starts afresh.
      const kept = new Set<string>();
      for (const [id, p] of table.providers) {
        if (lastTable.providers.get(id)?.apiBase !== p.apiBase) continue;
        for (const e of endpointsOf(p)) kept.add(e.id);
      }
      lastTable = table;
      health.configure(table.config.health);
      health.retainProviders(kept);
      // New caps apply at once; requests in flight keep their slots and release into them.
      deps.capacity!.configure(endpointsOfTable(table));
      guard = createGuard(table.config.server);
    }
    const requestId = sanitizeRequestId(request.headers.get("x-request-id")) ??
      crypto.randomUUID();
    const url = new URL(request.url);
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, "") : url.pathname;
    const route = routes.find(path);
    const style = route?.styleFor?.(request) ?? route?.style ?? "openai";
    /** Which client key, once the request is authorized (auth on). */
    let label: string | undefined;
    const fail = (e: ErrorBody, headers: Record<string, string> = {}, model?: string) => {
      log.request({
        requestId,
        keyLabel: label,
        protocol: route?.label ?? path.slice(0, 200),
        model,
        attempts: 0,
        status: e.status,
        streamed: false,
        totalMs: Math.round(options.now() - startedAt),
        error: e.message,
      });
      return errorResponse(style, e, { "x-request-id": requestId, ...headers });
    };
    /** Answers without reading the body, which is let go. */
    const refuse = async (e: ErrorBody, headers?: Record<string, string>) => {
      await request.body?.cancel().catch(() => {});
      return fail(e, headers);
    };

    let cors: Record<string, string> | undefined;
    if (!route?.open) {
      const verdict = guard(request);
      if (verdict.kind === "refuse") {
        // Nothing of a refused request is read or forwarded.
        return refuse({
          status: 403,
          type: "invalid_request_error",
          code: verdict.code,
          message: verdict.message,
        });
      }
      if (verdict.kind === "preflight") {
        await request.body?.cancel().catch(() => {});
        return new Response(null, {
          status: 204,
          headers: { ...verdict.headers, "x-request-id": requestId },
        });
      }
      cors = verdict.cors;
    }
    if (!route) {
      return refuse({
        status: 404,
        type: "invalid_request_error",
        code: "unknown_url",
        message: `no such endpoint: ${request.method.slice(0, 20)} ${
          path.slice(0, 200)
        }; BitRouter serves ${routes.paths().join(", ")}`,
      });
    }
    const server = table.config.server;
    // Gemini's clients may send the key as `?key=`; nowhere else is a key read from the URL.
    const keyUrl = style === "google" ? url : undefined;
    if (
      !route.open && !server.skipAuth && !route.keyless?.(server) &&
      !isAuthorized(request.headers, server.apiKeys, keyUrl)
    ) {
      return refuse({
        status: 401,
        type: "invalid_request_error",
        code: "invalid_api_key",
        message: `missing or wrong API key: send \`Authorization: Bearer <key>\`${
          keyUrl ? ", `x-goog-api-key: <key>`" : ""
        } or \`x-api-key: <key>\` with one of server.api_keys`,
      });
    }
    if (!route.methods.includes(request.method)) {
      return refuse(methodNotAllowed(request.method, route.methods), {
        allow: route.methods.join(", "),
      });
    }

    // Only once authorized: which key is worth a lookup then, never for the keyless.
    if (!server.skipAuth && !route.open) label = keyLabel(request.headers, server.apiKeys, keyUrl);
    const ctx: RequestContext = {
      request,
      url,
      path,
      table,
      requestId,
      keyLabel: label,
      startedAt,
      createdSecs,
      deps,
      fail,
    };
    let response: Response;
    try {
      response = await route.handle(ctx);
    } catch (e) {
      // A bug of BitRouter's own (SPEC §11 says there are none): answer in the client's envelope
      // and log it with the request id, so the two can be matched.
      log.error("internal error while handling a request", {
        id: requestId,
        error: e instanceof Error ? (e.stack ?? e.message) : String(e),
      });
      response = fail({
        status: 500,
        type: "server_error",
        code: "internal_error",
        message:
          `BitRouter hit an internal error (request ${requestId}); the log has details — please report it`,
      });
    }
    if (cors) { for (const name in cors) response.headers.set(name, cors[name]); }
    return response;
  };
}

/** Every endpoint of a table: its providers, each account of one with `accounts` on its own. */
function endpointsOfTable(table: RouteTable): Provider[] {
  return [...table.providers.values()].flatMap(endpointsOf);
}
