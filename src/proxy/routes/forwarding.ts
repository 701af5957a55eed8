import { NoRouteError, type Resolution, resolveCandidates } from "../../routing/resolve.ts";
import { FallbackError, withFallbacks } from "../../routing/fallbacks.ts";
import { MAX_MODEL_LENGTH } from "../../routing/resolve.ts";
import { BodyTimeoutError, BodyTooLargeError, readBodyLimited } from "../body.ts";
import { type Endpoint, type ForwardRequest, forwardWithFailover } from "../forward.ts";
import { nestsDeeperThan, tooDeepMessage } from "../json_depth.ts";
import type { RequestContext, Route } from "../router.ts";
import { estimateTokens } from "../../protocols/messages/count_tokens.ts";
import { downRetry, modelNotFound } from "./info.ts";

/** A forwarding endpoint (SPEC §4): its protocol and the list field its body must carry. */
export interface ForwardedEndpoint extends Endpoint {
  /** A field the body must hold as a list (`messages`), else 400. */
  requires?: string;
}

/** The client's request as read and parsed: its bytes, its text and its JSON object. */
export interface ClientBody {
  bytes: Uint8Array<ArrayBuffer>;
  text: string;
  body: Record<string, unknown>;
}

/** A POST endpoint that forwards to upstreams, with failover (SPEC §5) and translation (§6). */
export function forwardingRoute(endpoint: ForwardedEndpoint): Route {
  return {
    methods: ["POST"],
    style: endpoint.style,
    label: endpoint.protocol,
    handle: (ctx) => forwardRequest(ctx, endpoint),
  };
}

async function forwardRequest(ctx: RequestContext, endpoint: ForwardedEndpoint) {
  const read = await readJsonBody(ctx);
  if (read instanceof Response) return read;
  const problem = requestProblem(read.body, endpoint.requires);
  if (problem) return badRequest(ctx, problem);
  const resolution = resolveOrFail(ctx, read.body.model as string);
  if (resolution instanceof Response) return resolution;
  return forwardResolved(ctx, endpoint, read, resolution);
}

/**
 * Forwards a read, resolved request: applies the body's own `models` fallback list, answers
 * `count_tokens` by estimate when no Messages upstream can count, and sends the rest upstream.
 */
export function forwardResolved(
  ctx: RequestContext,
  endpoint: ForwardedEndpoint,
  read: ClientBody,
  resolution: Resolution,
  onResponse?: ForwardRequest["onResponse"],
): Promise<Response> | Response {
  let { bytes, text } = read;
  const { body } = read;
  if (body.models !== undefined && !endpoint.path) {
    try {
      resolution = withFallbacks(ctx.table, resolution, body.models);
    } catch (e) {
      if (!(e instanceof FallbackError)) throw e;
      return ctx.fail({
        status: 400,
        type: "invalid_request_error",
        code: "invalid_request",
        param: "models",
        message: e.message,
      });
    }
    if (nestsDeeperThan(text)) return badRequest(ctx, tooDeepMessage());
    // The list is BitRouter's; upstreams would reject or misread it.
    delete body.models;
    text = JSON.stringify(body);
    bytes = new TextEncoder().encode(text);
  }
  if (
    endpoint.path === "/messages/count_tokens" &&
    resolution.candidates[0]?.protocol !== "messages"
  ) {
    // Only a Messages upstream can count exactly; for the rest, the documented estimate.
    if (nestsDeeperThan(text)) return badRequest(ctx, tooDeepMessage());
    ctx.deps.log.request({
      requestId: ctx.requestId,
      protocol: endpoint.protocol,
      model: resolution.model,
      attempts: 0,
      status: 200,
      streamed: false,
      totalMs: Math.round(ctx.deps.now() - ctx.startedAt),
    });
    return Response.json({ input_tokens: estimateTokens(body) }, {
      headers: { "x-request-id": ctx.requestId, "x-bitrouter-estimate": "chars/4" },
    });
  }
  if (
    endpoint.path &&
    !resolution.candidates.some((c) =>
      c.protocol === endpoint.protocol || endpoint.direct?.[c.protocol]
    )
  ) {
    return ctx.fail({
      status: 404,
      type: "invalid_request_error",
      code: "model_not_found",
      param: "model",
      message: notServedHere(ctx, endpoint, resolution),
    });
  }
  return forwardWithFailover({
    request: ctx.request,
    requestId: ctx.requestId,
    keyLabel: ctx.keyLabel,
    endpoint,
    bytes,
    text,
    body,
    resolution,
    startedAt: ctx.startedAt,
    limits: ctx.table.config.upstreamLimits,
    onResponse,
  }, ctx.deps);
}

/**
 * Reads the body up to `server.max_body_mb` within `body_timeout_secs` and parses it as a JSON
 * object; or the error answer (408, 413, 400) already made, or 499 when the client left.
 */
export async function readJsonBody(ctx: RequestContext): Promise<ClientBody | Response> {
  const { request, fail } = ctx;
  const server = ctx.table.config.server;
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await readBodyLimited(request, server.maxBodyBytes, {
      deadlines: ctx.deps.deadlines,
      at: ctx.startedAt + server.bodyTimeoutSecs * 1000,
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
    return badRequest(ctx, "the request body is not valid UTF-8; send JSON encoded as UTF-8");
  }
  const body = parseObject(text);
  if (typeof body === "string") {
    const type = request.headers.get("content-type");
    const hint = type && !/json/i.test(type)
      ? ` (the request says Content-Type: ${type.slice(0, 60)}; send application/json)`
      : "";
    return badRequest(ctx, body + hint);
  }
  return { bytes, text, body };
}

/** The candidates for a model id, or the 404/503 answer already made. */
export function resolveOrFail(ctx: RequestContext, model: string): Resolution | Response {
  try {
    return resolveCandidates(ctx.table, model);
  } catch (e) {
    if (!(e instanceof NoRouteError)) throw e;
    return ctx.fail({ ...modelNotFound(e), param: "model" }, downRetry(e, ctx.table), model);
  }
}

/**
 * Why a model is served nowhere for an endpoint that only same-protocol upstreams serve
 * (`/v1/embeddings`, `/v1/completions`), and which providers could serve it.
 */
function notServedHere(
  ctx: RequestContext,
  endpoint: ForwardedEndpoint,
  resolution: Resolution,
): string {
  const servers = resolution.candidates.map((c) => `${c.provider.id} (${c.protocol})`);
  const could = [...ctx.table.providers.values()]
    .filter((p) =>
      !p.inactiveReason &&
      (p.defaultProtocol === endpoint.protocol || endpoint.direct?.[p.defaultProtocol])
    )
    .map((p) => p.id);
  return `"${resolution.model}" is served only by ${servers.join(", ")}, and ${endpoint.path} is ${
    endpoint.protocol === "chat_completions" ? "an OpenAI-compatible" : `a ${endpoint.protocol}`
  } endpoint that BitRouter does not translate; ${
    could.length > 0
      ? `providers that serve it: ${
        could.join(", ")
      } — use a model of theirs (bitrouter models -p ${could[0]})`
      : "no configured provider serves it"
  }`;
}

/** A 400 for a request that is wrong in itself. */
export function badRequest(ctx: RequestContext, message: string): Response {
  return ctx.fail({ status: 400, type: "invalid_request_error", code: "invalid_request", message });
}

/** Decodes request bodies; invalid UTF-8 is refused rather than silently replaced. */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The body as a JSON object, or why it is not one. */
function parseObject(text: string): Record<string, unknown> | string {
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
  return body as Record<string, unknown>;
}

/** Why a parsed body is not a request for this endpoint (`model`, the required list), if it is not. */
export function requestProblem(
  b: Record<string, unknown>,
  requires?: string,
): string | undefined {
  if (typeof b.model !== "string" || !b.model.trim()) {
    return 'missing required field `model` (a string such as "ollama:llama3.1")';
  }
  if (b.model.length > MAX_MODEL_LENGTH) {
    return `\`model\` is ${b.model.length} characters long; model ids are at most ${MAX_MODEL_LENGTH}`;
  }
  if (requires && !Array.isArray(b[requires])) {
    return `missing required field \`${requires}\` (a list)`;
  }
  return undefined;
}
