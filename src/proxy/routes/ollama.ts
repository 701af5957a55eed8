/**
 * Ollama's native API on BitRouter's listener (SPEC §4): `/api/chat` and `/api/generate` are
 * routed like `/v1/*` (pins, virtual models, cascade, failover) and translated to each
 * candidate's protocol (protocols/ollama/); `/api/embed` and `/api/embeddings` go to the
 * candidates' `/embeddings`; the model lists answer from the route table. Model management
 * (pull, push, create, delete, copy) is the Ollama server's own business: 501.
 */
import { type JsonObject, numberOf, records } from "../../protocols/narrow.ts";
import { ollamaError } from "../../protocols/ollama/errors.ts";
import type { RouteTable } from "../../routing/route_table.ts";
import type { RequestContext, Route } from "../router.ts";
import type { Endpoint } from "../forward.ts";
import { badRequest, forwardResolved, readJsonBody, resolveOrFail } from "./forwarding.ts";
import { embedInputs } from "./embeddings.ts";
import { modelsAnsweringOn } from "./listing.ts";

/**
 * The Ollama API version reported by `/api/version`: the release whose endpoints and fields
 * BitRouter implements, so clients that gate features on it (thinking, tool calls) use them.
 */
export const OLLAMA_API_VERSION = "0.12.6";

/** Go's zero time, which Ollama's own structs carry for an unknown time. */
const ZERO_TIME = "0001-01-01T00:00:00Z";

const CHAT: Endpoint = { protocol: "ollama_chat", style: "ollama", framing: "ndjson" };
const GENERATE: Endpoint = { protocol: "ollama_generate", style: "ollama", framing: "ndjson" };

/** Ollama's routes by path, for the route table. */
export function ollamaRoutes(): [string, Route][] {
  const post = (label: string, handle: Route["handle"]): Route => ({
    methods: ["POST"],
    style: "ollama",
    label,
    handle,
  });
  const get = (label: string, handle: Route["handle"]): Route => ({
    methods: ["GET", "HEAD"],
    style: "ollama",
    label,
    handle,
  });
  const routes: [string, Route][] = [
    ["/api/chat", post("ollama_chat", (ctx) => generation(ctx, CHAT))],
    ["/api/generate", post("ollama_generate", (ctx) => generation(ctx, GENERATE))],
    ["/api/embed", post("ollama_embed", (ctx) => embed(ctx, "embed"))],
    ["/api/embeddings", post("ollama_embed", (ctx) => embed(ctx, "embeddings"))],
    ["/api/tags", get("ollama_tags", (ctx) => json(ctx, { models: tags(ctx.table, false) }))],
    ["/api/ps", get("ollama_ps", (ctx) => json(ctx, { models: tags(ctx.table, true) }))],
    ["/api/show", post("ollama_show", show)],
    ["/api/version", get("ollama_version", (ctx) => json(ctx, { version: OLLAMA_API_VERSION }))],
  ];
  for (const name of ["pull", "push", "create", "delete", "copy"]) {
    routes.push([`/api/${name}`, {
      methods: ["POST", "DELETE"],
      style: "ollama",
      label: `ollama_${name}`,
      handle: (ctx) => notHere(ctx, name),
    }]);
  }
  return routes;
}

/** `/api/blobs/{digest}` (model uploads for `create`): not BitRouter's either. */
export const ollamaBlobsRoute: Route = {
  methods: ["HEAD", "POST"],
  style: "ollama",
  label: "ollama_blobs",
  handle: (ctx) => notHere(ctx, "create"),
};

/** `/api/chat` and `/api/generate`: routed and translated; a request with nothing to say loads nothing. */
async function generation(ctx: RequestContext, endpoint: Endpoint): Promise<Response> {
  const read = await readJsonBody(ctx);
  if (read instanceof Response) return read;
  const model = modelOf(read.body);
  if (model === undefined) return badRequest(ctx, "model is required");
  const chat = endpoint.protocol === "ollama_chat";
  if (chat && read.body.messages !== undefined && !Array.isArray(read.body.messages)) {
    return badRequest(ctx, "messages: expected a list of {role, content} messages");
  }
  const resolution = resolveOrFail(ctx, model);
  if (resolution instanceof Response) return resolution;
  const empty = chat
    ? records(read.body.messages).length === 0
    : typeof read.body.prompt !== "string" || read.body.prompt === "";
  if (empty) {
    // Ollama answers an empty request by loading the model (`done_reason: "load"`); clients send
    // one to warm a model up. BitRouter's servers load on first use, so it is answered here.
    const answer: JsonObject = {
      model: resolution.model,
      created_at: new Date().toISOString(),
      ...(chat ? { message: { role: "assistant", content: "" } } : { response: "" }),
      done_reason: "load",
      done: true,
    };
    return json(ctx, answer);
  }
  read.body.model = model;
  // Ollama streams unless told not to; said explicitly, every layer below reads it alike.
  read.body.stream = read.body.stream !== false;
  return forwardResolved(ctx, endpoint, read, resolution);
}

/** `/api/embed` (`input`: text or texts) and the older `/api/embeddings` (`prompt`). */
async function embed(ctx: RequestContext, shape: "embed" | "embeddings"): Promise<Response> {
  const read = await readJsonBody(ctx);
  if (read instanceof Response) return read;
  const model = modelOf(read.body);
  if (model === undefined) return badRequest(ctx, "model is required");
  const input = shape === "embed" ? read.body.input : read.body.prompt;
  const inputs = typeof input === "string" ? [input] : input;
  if (!Array.isArray(inputs) || !inputs.every((x) => typeof x === "string")) {
    return badRequest(
      ctx,
      shape === "embed"
        ? "input: expected a string or a list of strings"
        : "prompt: expected a string",
    );
  }
  const resolution = resolveOrFail(ctx, model);
  if (resolution instanceof Response) return resolution;
  const embedded = await embedInputs(
    ctx,
    resolution,
    inputs,
    numberOf(read.body.dimensions),
    "ollama",
    (_status, message) => ollamaError(message),
  );
  if (embedded instanceof Response) return embedded;
  const out: JsonObject = shape === "embeddings" ? { embedding: embedded.vectors[0] ?? [] } : {
    model: resolution.model,
    embeddings: embedded.vectors,
    total_duration: Math.round((ctx.deps.now() - ctx.startedAt) * 1e6),
    load_duration: 0,
    ...(embedded.promptTokens !== undefined ? { prompt_eval_count: embedded.promptTokens } : {}),
  };
  return new Response(JSON.stringify(out), { status: 200, headers: embedded.headers });
}

/** `/api/show`: what BitRouter knows of a model — that it routes, and where. */
async function show(ctx: RequestContext): Promise<Response> {
  const read = await readJsonBody(ctx);
  if (read instanceof Response) return read;
  const model = modelOf(read.body) ?? (typeof read.body.name === "string" ? read.body.name : "");
  if (model === "") return badRequest(ctx, "model is required");
  const resolution = resolveOrFail(ctx, model);
  if (resolution instanceof Response) return resolution;
  return json(ctx, {
    modelfile: "",
    parameters: "",
    template: "",
    details: UNKNOWN_DETAILS,
    model_info: {
      "bitrouter.candidates": resolution.candidates.map((c) => `${c.provider.id}:${c.model}`),
    },
    capabilities: ["completion"],
    modified_at: ZERO_TIME,
  });
}

/** Details no router can know without asking the model's server: empty, never guessed. */
const UNKNOWN_DETAILS = {
  parent_model: "",
  format: "",
  family: "",
  families: null,
  parameter_size: "",
  quantization_level: "",
};

/**
 * Every routable model that answers on Ollama's API (SPEC §3, §6) in `/api/tags`' shape; `loadedOnly`: those a server has in
 * memory now, for `/api/ps`. Size, digest, dates and details are zero or empty: BitRouter
 * routes to models, it does not hold their files.
 */
function tags(table: RouteTable, loadedOnly: boolean): JsonObject[] {
  const out: JsonObject[] = [];
  for (const id of modelsAnsweringOn(table, "ollama_chat")) {
    if (loadedOnly && !table.offers.get(id)?.some((o) => o.warm)) continue;
    const entry: JsonObject = {
      name: id,
      model: id,
      modified_at: ZERO_TIME,
      size: 0,
      digest: "",
      details: UNKNOWN_DETAILS,
    };
    if (loadedOnly) Object.assign(entry, { expires_at: ZERO_TIME, size_vram: 0 });
    out.push(entry);
  }
  return out;
}

function notHere(ctx: RequestContext, action: string): Response {
  return ctx.fail({
    status: 501,
    type: "invalid_request_error",
    code: "not_implemented",
    message:
      `BitRouter routes requests to models but does not manage them: run \`ollama ${action}\` on the Ollama server itself (with OLLAMA_HOST pointing at that server, not at BitRouter)`,
  });
}

/** The model a request names (`model`, or `name` as older clients send it). */
function modelOf(body: JsonObject): string | undefined {
  const model = typeof body.model === "string" && body.model.trim() !== ""
    ? body.model
    : typeof body.name === "string" && body.name.trim() !== ""
    ? body.name
    : undefined;
  return model !== undefined && model.length <= 512 ? model : undefined;
}

function json(ctx: RequestContext, body: unknown): Response {
  return Response.json(body, { headers: { "x-request-id": ctx.requestId } });
}
