import type { RouteTable } from "../routing/route_table.ts";
import {
  MAX_MODEL_LENGTH,
  NoRouteError,
  resolveCandidates,
  routableModels,
} from "../routing/resolve.ts";
import { FallbackError, withFallbacks } from "../routing/fallbacks.ts";
import { BodyTimeoutError, BodyTooLargeError, readBodyLimited } from "./body.ts";
import { type ErrorBody, errorResponse, type ErrorStyle } from "./envelope.ts";
import { type Endpoint, type ForwardDeps, forwardWithFailover } from "./forward.ts";
import { isAuthorized } from "./auth.ts";
import { createGuard } from "./guard.ts";
import { sanitizeRequestId } from "./headers.ts";
import { nestsDeeperThan, tooDeepMessage } from "./json_depth.ts";
import { createDeadlines, type Deadlines } from "./deadlines.ts";
import { HealthBook } from "../routing/health.ts";
import { VERSION } from "../version.ts";
import { estimateTokens } from "../protocols/messages/count_tokens.ts";

/** The endpoints that forward to upstreams (SPEC §4), by path. */
const FORWARDED: Record<string, Endpoint & { requires?: string }> = {
  "/v1/chat/completions": { protocol: "chat_completions", style: "openai", requires: "messages" },
  "/v1/messages": { protocol: "messages", style: "anthropic", requires: "messages" },
  "/v1/responses": { protocol: "responses", style: "openai" },
  "/v1/completions": { protocol: "chat_completions", style: "openai", path: "/completions" },
  "/v1/embeddings": { protocol: "chat_completions", style: "openai", path: "/embeddings" },
  "/v1/messages/count_tokens": {
    protocol: "messages",
    style: "anthropic",
    path: "/messages/count_tokens",
    requires: "messages",
  },
};

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
  /** The shared timer of every time limit; default: a new one. Its owner may `clear()` it. */
  deadlines?: Deadlines;
}

/** A web-standard request handler for one config: `(Request) => Promise<Response>` (STYLE). */
export type Handler = (request: Request) => Promise<Response>;

/** Builds the HTTP handler of SPEC §4 over one route table. */
export function createHandler(options: HandlerOptions): Handler {
  const { log } = options;
  const created = options.startedAtSecs ?? Math.floor(Date.now() / 1000);
  let lastTable = options.routes();
  const health = options.health ?? new HealthBook(lastTable.config.health, options.now);
  const deps: ForwardDeps = {
    fetch: options.fetch,
    now: options.now,
    log,
    deadlines: options.deadlines ?? createDeadlines(options.now),
    health,
    drain: options.drain,
  };

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
        if (lastTable.providers.get(id)?.apiBase === p.apiBase) kept.add(id);
      }
      lastTable = table;
      health.configure(table.config.health);
      health.retainProviders(kept);
      guard = createGuard(table.config.server);
    }
    const requestId = sanitizeRequestId(request.headers.get("x-request-id")) ??
      crypto.randomUUID();
    const url = new URL(request.url);
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, "") : url.pathname;
    const style: ErrorStyle = FORWARDED[path]?.style ?? "openai";
    const fail = (e: ErrorBody, headers: Record<string, string> = {}) => {
      log.request({
        requestId,
        protocol: FORWARDED[path]?.protocol ?? path.slice(0, 200),
        attempts: 0,
        status: e.status,
        streamed: false,
        totalMs: Math.round(options.now() - startedAt),
        error: e.message,
      });
      return errorResponse(style, e, { "x-request-id": requestId, ...headers });
    };

    if (path === "/health") {
      if (request.method !== "GET" && request.method !== "HEAD") {
        return fail(methodNotAllowed(request.method, "GET"), { allow: "GET, HEAD" });
      }
      return Response.json({ status: "ok" }, {
        headers: { "x-request-id": requestId, "x-bitrouter-version": VERSION },
      });
    }
    const verdict = guard(request);
    if (verdict.kind === "refuse") {
      // Nothing of a refused request is read or forwarded.
      await request.body?.cancel().catch(() => {});
      return fail({
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
    let response: Response;
    try {
      response = await route(request, { table, requestId, path, style, startedAt, fail });
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
    if (verdict.cors) {
      for (const name in verdict.cors) response.headers.set(name, verdict.cors[name]);
    }
    return response;
  };

  /** Everything after the shared front steps: auth, then the endpoint itself. */
  async function route(request: Request, rq: RequestContext): Promise<Response> {
    const { table, requestId, path, startedAt, fail } = rq;
    const server = table.config.server;
    const forward = FORWARDED[path];
    const known = forward || path === "/v1/models" || path.startsWith("/v1/models/") ||
      path === STATUS_PATH;
    if (!known) {
      return fail({
        status: 404,
        type: "invalid_request_error",
        code: "unknown_url",
        message: `no such endpoint: ${request.method} ${
          path.slice(0, 200)
        }; BitRouter serves /v1/chat/completions, /v1/messages, /v1/responses, /v1/completions, /v1/embeddings, /v1/models, /v1/bitrouter/status and /health`,
      });
    }
    if (!server.skipAuth && !isAuthorized(request.headers, server.apiKeys)) {
      await request.body?.cancel().catch(() => {});
      return fail({
        status: 401,
        type: "invalid_request_error",
        code: "invalid_api_key",
        message:
          "missing or wrong API key: send `Authorization: Bearer <key>` or `x-api-key: <key>` with one of server.api_keys",
      });
    }
    if (!forward) {
      if (request.method !== "GET" && request.method !== "HEAD") {
        await request.body?.cancel().catch(() => {});
        return fail(methodNotAllowed(request.method, "GET"), { allow: "GET, HEAD" });
      }
      if (path === STATUS_PATH) {
        return Response.json(statusOf(table, health), { headers: { "x-request-id": requestId } });
      }
      const models = routableModels(table);
      const entry = (id: string, owners: string[]) => ({
        id,
        object: "model",
        created,
        owned_by: table.virtualModels.has(id) ? "bitrouter" : owners[0],
      });
      const headers = { "x-request-id": requestId };
      if (path === "/v1/models") {
        return Response.json({
          object: "list",
          data: [...models].map(([id, owners]) => entry(id, owners)),
        }, { headers });
      }
      try {
        const r = resolveCandidates(table, decodeModelId(path.slice("/v1/models/".length)));
        return Response.json(entry(r.model, r.candidates.map((c) => c.provider.id)), { headers });
      } catch (e) {
        if (!(e instanceof NoRouteError)) throw e;
        return fail(modelNotFound(e), downRetry(e, table));
      }
    }

    if (request.method !== "POST") {
      await request.body?.cancel().catch(() => {});
      return fail(methodNotAllowed(request.method, "POST"), { allow: "POST" });
    }
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await readBodyLimited(request, server.maxBodyBytes, {
        deadlines: deps.deadlines,
        at: startedAt + server.bodyTimeoutSecs * 1000,
        secs: server.bodyTimeoutSecs,
      });
    } catch (e) {
      if (e instanceof BodyTimeoutError) {
        // `connection: close`: the rest of a stalled body must not be read as the next request.
        return fail({
          status: 408,
          type: "invalid_request_error",
          code: "request_timeout",
          message: `${e.message}; send the body at once, or raise server.body_timeout_secs`,
        }, { connection: "close" });
      }
      if (e instanceof BodyTooLargeError) {
        return fail({
          status: 413,
          type: "invalid_request_error",
          code: "request_too_large",
          message: `${e.message}; send a smaller request or raise server.max_body_mb`,
        });
      }
      if (request.signal.aborted) return new Response(null, { status: 499 });
      throw e;
    }
    let text: string;
    try {
      text = UTF8.decode(bytes);
    } catch {
      return fail({
        status: 400,
        type: "invalid_request_error",
        code: "invalid_request",
        message: "the request body is not valid UTF-8; send JSON encoded as UTF-8",
      });
    }
    const body = parseBody(text, forward.requires);
    if (typeof body === "string") {
      const type = request.headers.get("content-type");
      const hint = type && !/json/i.test(type)
        ? ` (the request says Content-Type: ${type.slice(0, 60)}; send application/json)`
        : "";
      return fail({
        status: 400,
        type: "invalid_request_error",
        code: "invalid_request",
        message: body + hint,
      });
    }
    let resolution;
    try {
      resolution = resolveCandidates(table, body.model as string);
    } catch (e) {
      if (!(e instanceof NoRouteError)) throw e;
      return fail({ ...modelNotFound(e), param: "model" }, downRetry(e, table));
    }
    if (body.models !== undefined && !forward.path) {
      try {
        resolution = withFallbacks(table, resolution, body.models);
      } catch (e) {
        if (!(e instanceof FallbackError)) throw e;
        return fail({
          status: 400,
          type: "invalid_request_error",
          code: "invalid_request",
          param: "models",
          message: e.message,
        });
      }
      if (nestsDeeperThan(text)) {
        return fail({
          status: 400,
          type: "invalid_request_error",
          code: "invalid_request",
          message: tooDeepMessage(),
        });
      }
      // The list is BitRouter's; upstreams would reject or misread it.
      delete body.models;
      text = JSON.stringify(body);
      bytes = new TextEncoder().encode(text);
    }
    if (
      forward.path === "/messages/count_tokens" && resolution.candidates[0]?.protocol !== "messages"
    ) {
      // Only a Messages upstream can count exactly; for the rest, the documented estimate.
      if (nestsDeeperThan(text)) {
        return fail({
          status: 400,
          type: "invalid_request_error",
          code: "invalid_request",
          message: tooDeepMessage(),
        });
      }
      log.request({
        requestId,
        protocol: forward.protocol,
        model: resolution.model,
        attempts: 0,
        status: 200,
        streamed: false,
        totalMs: Math.round(options.now() - startedAt),
      });
      return Response.json({ input_tokens: estimateTokens(body) }, {
        headers: { "x-request-id": requestId, "x-bitrouter-estimate": "chars/4" },
      });
    }
    return forwardWithFailover({
      request,
      requestId,
      endpoint: forward,
      bytes,
      text,
      body,
      resolution,
      startedAt,
      limits: table.config.upstreamLimits,
    }, deps);
  }
}

/** What the front steps hand to `route` for one request. */
interface RequestContext {
  table: RouteTable;
  requestId: string;
  /** The path without trailing slashes. */
  path: string;
  style: ErrorStyle;
  startedAt: number;
  /** Logs the request and answers this error in the client's envelope. */
  fail: (e: ErrorBody, headers?: Record<string, string>) => Response;
}

/** Where the running server tells the CLI (and the curious) how its endpoints are doing. */
export const STATUS_PATH = "/v1/bitrouter/status";

/** What `GET /v1/bitrouter/status` answers. */
export interface ServerStatus {
  object: "bitrouter.status";
  version: string;
  config: string | null;
  endpoints: {
    provider: string;
    model: string;
    state: string;
    consecutive_failures: number;
    cooling_for_secs: number | null;
    last_error: string | null;
  }[];
}

function statusOf(table: RouteTable, health: HealthBook): ServerStatus {
  return {
    object: "bitrouter.status",
    version: VERSION,
    config: table.config.file ?? null,
    endpoints: health.snapshot().map((e) => ({
      provider: e.provider,
      model: e.model,
      state: e.state,
      consecutive_failures: e.consecutiveFailures,
      cooling_for_secs: e.coolingForMs === undefined ? null : Math.ceil(e.coolingForMs / 1000),
      last_error: e.lastError ?? null,
    })),
  };
}

function modelNotFound(e: NoRouteError): ErrorBody {
  if (e.unavailable) {
    // Every server of the model is down (SPEC §7): answer at once, without a connection attempt.
    return { status: 503, type: "upstream_error", code: "provider_down", message: e.message };
  }
  return {
    status: 404,
    type: "invalid_request_error",
    code: "model_not_found",
    message: e.message,
  };
}

/**
 * `Retry-After` for a model whose every server is down: the next discovery probe may find one up
 * (SPEC §4: BitRouter's own 503s say when to come back).
 */
function downRetry(e: NoRouteError, table: RouteTable): Record<string, string> {
  return e.unavailable
    ? { "retry-after": String(Math.ceil(table.config.discovery.intervalSecs)) }
    : {};
}

/** The model id of a `/v1/models/{id}` path; a malformed escape is kept as written (and so not found). */
function decodeModelId(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function methodNotAllowed(method: string, allowed: string): ErrorBody {
  return {
    status: 405,
    type: "invalid_request_error",
    code: "method_not_allowed",
    message: `method ${method} is not allowed here; use ${allowed}`,
  };
}

/** Decodes request bodies; invalid UTF-8 is refused rather than silently replaced. */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The parsed body, or why it is not a usable request. */
function parseBody(text: string, requires?: string): Record<string, unknown> | string {
  if (!text.trim()) return "the request body is empty; send a JSON object with model and messages";
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    return `the request body is not valid JSON: ${(e as Error).message}`;
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    return "the request body must be a JSON object";
  }
  const b = body as Record<string, unknown>;
  if (typeof b.model !== "string" || !b.model.trim()) {
    return 'missing required field `model` (a string such as "ollama:llama3.1")';
  }
  if (b.model.length > MAX_MODEL_LENGTH) {
    return `\`model\` is ${b.model.length} characters long; model ids are at most ${MAX_MODEL_LENGTH}`;
  }
  if (requires && !Array.isArray(b[requires])) {
    return `missing required field \`${requires}\` (a list)`;
  }
  return b;
}
