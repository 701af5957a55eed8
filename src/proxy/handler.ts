import type { RouteTable } from "../routing/route_table.ts";
import { NoRouteError, resolveCandidates, routableModels } from "../routing/resolve.ts";
import { BodyTooLargeError, readBodyLimited } from "./body.ts";
import { type ErrorBody, errorResponse, type ErrorStyle } from "./envelope.ts";
import { type Endpoint, type ForwardDeps, forwardWithFailover } from "./forward.ts";
import { isAuthorized } from "./auth.ts";
import { createDeadlines } from "./deadlines.ts";

const utf8 = new TextDecoder();

/** The endpoints that forward to upstreams (SPEC §4), by path. */
const FORWARDED: Record<string, Endpoint & { requires?: string }> = {
  "/v1/chat/completions": {
    protocol: "chat_completions",
    upstreamPath: "/chat/completions",
    style: "openai",
    requires: "messages",
  },
  "/v1/completions": {
    protocol: "chat_completions",
    upstreamPath: "/completions",
    style: "openai",
  },
  "/v1/embeddings": { protocol: "chat_completions", upstreamPath: "/embeddings", style: "openai" },
};

/** Paths the SPEC names that this version does not serve yet, with what to use meanwhile. */
const NOT_YET: Record<string, { style: ErrorStyle; message: string }> = {
  "/v1/messages": {
    style: "anthropic",
    message:
      "POST /v1/messages (Anthropic Messages) is not available in this version of BitRouter; use /v1/chat/completions",
  },
  "/v1/responses": {
    style: "openai",
    message:
      "POST /v1/responses (OpenAI Responses) is not available in this version of BitRouter; use /v1/chat/completions",
  },
};

/** What the handler is built from. */
export interface HandlerOptions extends Omit<ForwardDeps, "deadlines"> {
  /**
   * The route table to use for the next request. A function, so that a reload or a discovery
   * round can swap in a new table while running requests keep the one they started with.
   */
  routes: () => RouteTable;
  /** Seconds since the epoch reported as `created` in /v1/models. */
  startedAtSecs?: number;
}

/** A web-standard request handler for one config: `(Request) => Promise<Response>` (STYLE). */
export type Handler = (request: Request) => Promise<Response>;

/** Builds the HTTP handler of SPEC §4 over one route table. */
export function createHandler(options: HandlerOptions): Handler {
  const { log } = options;
  const created = options.startedAtSecs ?? Math.floor(Date.now() / 1000);
  const deps: ForwardDeps = {
    fetch: options.fetch,
    now: options.now,
    log,
    deadlines: createDeadlines(options.now),
  };

  return async function handle(request): Promise<Response> {
    const startedAt = options.now();
    const table = options.routes();
    const server = table.config.server;
    const requestId = request.headers.get("x-request-id")?.slice(0, 200) || crypto.randomUUID();
    const url = new URL(request.url);
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, "") : url.pathname;
    const fail = (style: ErrorStyle, e: ErrorBody, headers: Record<string, string> = {}) => {
      log.request({
        requestId,
        protocol: FORWARDED[path]?.protocol ?? path,
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
        return fail("openai", methodNotAllowed(request.method, "GET"), { allow: "GET, HEAD" });
      }
      return Response.json({ status: "ok" }, { headers: { "x-request-id": requestId } });
    }

    const forward = FORWARDED[path];
    const notYet = NOT_YET[path];
    const style: ErrorStyle = notYet?.style ?? "openai";
    const known = forward || notYet || path === "/v1/models" || path.startsWith("/v1/models/");
    if (!known) {
      return fail(style, {
        status: 404,
        type: "invalid_request_error",
        code: "unknown_url",
        message:
          `no such endpoint: ${request.method} ${path}; BitRouter serves /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models and /health`,
      });
    }
    if (!server.skipAuth && !isAuthorized(request.headers, server.apiKeys)) {
      await request.body?.cancel().catch(() => {});
      return fail(style, {
        status: 401,
        type: "invalid_request_error",
        code: "invalid_api_key",
        message:
          "missing or wrong API key: send `Authorization: Bearer <key>` or `x-api-key: <key>` with one of server.api_keys",
      });
    }
    if (notYet) {
      await request.body?.cancel().catch(() => {});
      return fail(style, {
        status: 404,
        type: "invalid_request_error",
        code: "unknown_url",
        message: notYet.message,
      });
    }

    if (!forward) {
      if (request.method !== "GET" && request.method !== "HEAD") {
        await request.body?.cancel().catch(() => {});
        return fail(style, methodNotAllowed(request.method, "GET"), { allow: "GET, HEAD" });
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
        return fail(style, modelNotFound(e));
      }
    }

    if (request.method !== "POST") {
      await request.body?.cancel().catch(() => {});
      return fail(style, methodNotAllowed(request.method, "POST"), { allow: "POST" });
    }
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await readBodyLimited(request, server.maxBodyBytes);
    } catch (e) {
      if (e instanceof BodyTooLargeError) {
        return fail(style, {
          status: 413,
          type: "invalid_request_error",
          code: "request_too_large",
          message: `${e.message}; send a smaller request or raise server.max_body_mb`,
        });
      }
      if (request.signal.aborted) return new Response(null, { status: 499 });
      throw e;
    }
    const text = utf8.decode(bytes);
    const body = parseBody(text, forward.requires);
    if (typeof body === "string") {
      return fail(style, {
        status: 400,
        type: "invalid_request_error",
        code: "invalid_request",
        message: body,
      });
    }
    let resolution;
    try {
      resolution = resolveCandidates(table, body.model as string);
    } catch (e) {
      if (!(e instanceof NoRouteError)) throw e;
      return fail(style, { ...modelNotFound(e), param: "model" });
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
    }, deps);
  };
}

function modelNotFound(e: NoRouteError): ErrorBody {
  return {
    status: 404,
    type: "invalid_request_error",
    code: "model_not_found",
    message: e.message,
  };
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
  if (requires && !Array.isArray(b[requires])) {
    return `missing required field \`${requires}\` (a list)`;
  }
  return b;
}
