/**
 * The Responses API's endpoints (SPEC §4): `POST /v1/responses`, forwarded like the others once
 * its references into stored responses are resolved, and `GET`/`DELETE /v1/responses/{id}` (and
 * `GET /v1/responses/{id}/input_items`) over the responses BitRouter stored.
 *
 * What is stored: each response BitRouter translated for a Responses client (from a Chat
 * Completions or Messages upstream) unless the request said `store: false`. A Responses upstream
 * keeps its own: its answers are relayed untouched and not stored, and a `previous_response_id`
 * or `item_reference` BitRouter does not hold is passed on to it.
 */
import type { Resolution } from "../../routing/resolve.ts";
import type { RequestContext, Route } from "../router.ts";
import type { ErrorBody } from "../envelope.ts";
import { nestsDeeperThan, tooDeepMessage } from "../json_depth.ts";
import { DEFAULT_RESPONSES } from "../../config/types.ts";
import type { ResponseStore } from "../../protocols/responses/store.ts";
import { resolveStoredInput } from "../../protocols/responses/stored_input.ts";
import {
  badRequest,
  type ForwardedEndpoint,
  forwardResolved,
  readJsonBody,
  requestProblem,
  resolveOrFail,
} from "./forwarding.ts";

/** Where the stored responses are addressed: `/v1/responses/{id}`. */
export const RESPONSES_PREFIX = "/v1/responses/";

const ENDPOINT: ForwardedEndpoint = { protocol: "responses", style: "openai" };

/** `POST /v1/responses`, storing what it translates in store. */
export function createResponseRoute(store: ResponseStore): Route {
  return {
    methods: ["POST"],
    style: "openai",
    label: "responses",
    handle: (ctx) => createResponse(ctx, store),
  };
}

/** `GET`/`DELETE /v1/responses/{id}` and `GET /v1/responses/{id}/input_items`. */
export function storedResponseRoute(store: ResponseStore): Route {
  return {
    methods: ["GET", "HEAD", "DELETE"],
    style: "openai",
    label: "responses",
    handle: (ctx) => storedResponse(ctx, store),
  };
}

async function createResponse(ctx: RequestContext, store: ResponseStore): Promise<Response> {
  const read = await readJsonBody(ctx);
  if (read instanceof Response) return read;
  const problem = requestProblem(read.body);
  if (problem) return badRequest(ctx, problem);
  const resolution = resolveOrFail(ctx, read.body.model as string);
  if (resolution instanceof Response) return resolution;
  if (!usesStore(read.body)) return forwardResolved(ctx, ENDPOINT, read, resolution);
  if (nestsDeeperThan(read.text)) return badRequest(ctx, tooDeepMessage());
  const resolved = resolveStoredInput(read.body, store, speaksResponses(resolution));
  if ("missing" in resolved) return ctx.fail(notFound(resolved.missing));
  let { bytes, text, body } = read;
  if (resolved.changed) {
    body = resolved.body;
    text = JSON.stringify(body);
    bytes = new TextEncoder().encode(text);
  }
  const ttlSecs = (ctx.table.config.responses ?? DEFAULT_RESPONSES).storeTtlSecs;
  const keep = body.store !== false
    ? (response: Record<string, unknown>) => {
      store.put({ response, input: resolved.input }, ttlSecs);
    }
    : undefined;
  return forwardResolved(ctx, ENDPOINT, { bytes, text, body }, resolution, keep);
}

/** Whether the request stores or refers to stored state; most Codex turns do neither. */
function usesStore(body: Record<string, unknown>): boolean {
  if (body.store !== false) return true;
  if (body.previous_response_id !== undefined && body.previous_response_id !== null) return true;
  return Array.isArray(body.input) &&
    body.input.some((i) => typeof i === "object" && i !== null && i.type === "item_reference");
}

/** Whether some candidate is a Responses upstream, which may hold ids BitRouter does not. */
function speaksResponses(resolution: Resolution): boolean {
  return resolution.candidates.some((c) => c.protocol === "responses");
}

function storedResponse(ctx: RequestContext, store: ResponseStore): Response {
  const rest = ctx.path.slice(RESPONSES_PREFIX.length);
  const [id, sub, ...more] = rest.split("/").map(decode);
  const headers = { "x-request-id": ctx.requestId };
  if (!id || more.length > 0 || (sub !== undefined && sub !== "input_items")) {
    return ctx.fail({
      status: 404,
      type: "invalid_request_error",
      code: "unknown_url",
      message: `no such endpoint: ${
        ctx.path.slice(0, 200)
      }; use /v1/responses/{id} or /v1/responses/{id}/input_items`,
    });
  }
  if (ctx.request.method === "DELETE") {
    if (sub !== undefined || !store.delete(id)) {
      return ctx.fail(notFound({ kind: "response", id }, ctx.request.method));
    }
    return Response.json({ id, object: "response", deleted: true }, { headers });
  }
  const stored = store.get(id);
  if (!stored) return ctx.fail(notFound({ kind: "response", id }, ctx.request.method));
  if (sub === "input_items") {
    const data = stored.input.filter((i) => typeof i === "object" && i !== null);
    return Response.json({
      object: "list",
      data,
      first_id: idOf(data[0]),
      last_id: idOf(data.at(-1)),
      has_more: false,
    }, { headers });
  }
  return Response.json(stored.response, { headers });
}

/** OpenAI's 404 for an id it does not hold, naming it. */
function notFound(missing: { kind: "response" | "item"; id: string }, method = "POST"): ErrorBody {
  const id = missing.id.slice(0, 200);
  const hint =
    "BitRouter keeps the responses it translated (not with store: false) for responses.store_ttl_secs";
  if (missing.kind === "item") {
    return {
      status: 404,
      type: "invalid_request_error",
      code: "item_not_found",
      param: "input",
      message:
        `Item with id '${id}' not found. ${hint}; send the item itself instead of an item_reference`,
    };
  }
  return {
    status: 404,
    type: "invalid_request_error",
    code: method === "POST" ? "previous_response_not_found" : "response_not_found",
    param: method === "POST" ? "previous_response_id" : null,
    message: method === "POST"
      ? `Previous response with id '${id}' not found. ${hint}; send the whole conversation in \`input\``
      : `Response with id '${id}' not found. ${hint}`,
  };
}

function idOf(item: unknown): string | null {
  const id = (item as Record<string, unknown> | undefined)?.id;
  return typeof id === "string" ? id : null;
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
