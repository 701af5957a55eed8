/**
 * Google's Gemini API on BitRouter's listener (SPEC §4): `/v1beta/models/{model}:{action}`.
 * `generateContent` and `streamGenerateContent` are routed like `/v1/*` and translated to each
 * candidate's protocol (protocols/gemini/); a stream is SSE with `?alt=sse` and otherwise, as
 * Google's default, one JSON array sent item by item. `countTokens` is exact from a Gemini
 * upstream and an estimate otherwise,
 * `embedContent` / `batchEmbedContents` go to the candidates' `/embeddings`, and to a Gemini
 * candidate's own `:embedContent` / `:batchEmbedContents` as sent; `GET /v1beta/models` lists the
 * models that answer on this API.
 */
import { estimateGeminiTokens } from "../../protocols/gemini/count_tokens.ts";
import { camelCaseRequest } from "../../protocols/gemini/field_names.ts";
import { googleError } from "../../protocols/gemini/errors.ts";
import { isRecord, type JsonObject, numberOf, records, stringOf } from "../../protocols/narrow.ts";
import { MAX_MODEL_LENGTH } from "../../routing/resolve.ts";
import { nestsDeeperThan, tooDeepMessage } from "../json_depth.ts";
import type { Endpoint } from "../forward.ts";
import type { RequestContext, Route } from "../router.ts";
import { embedInputs } from "./embeddings.ts";
import { badRequest, forwardResolved, readJsonBody, resolveOrFail } from "./forwarding.ts";
import { modelsAnsweringOn } from "./listing.ts";

/** Where Gemini's model paths start. */
export const GEMINI_MODELS = "/v1beta/models";

/**
 * A path both OpenAI's and Gemini's APIs use: `@google/genai` 3.x calls Gemini's `v1` by
 * default (`POST /v1/models/{model}:generateContent`, `GET /v1/models`). A POST, or a request
 * from Google's libraries (they send `x-goog-api-client` or `x-goog-api-key`), goes to Gemini's
 * route; anything else to OpenAI's.
 */
export function geminiOrOpenai(openai: Route, gemini: Route): Route {
  const isGemini = (request: Request) =>
    request.method === "POST" || request.headers.has("x-goog-api-client") ||
    request.headers.has("x-goog-api-key");
  return {
    methods: [...new Set([...openai.methods, ...gemini.methods])],
    style: openai.style,
    styleFor: (request) => isGemini(request) ? gemini.style : openai.style,
    label: openai.label,
    handle: (ctx) => isGemini(ctx.request) ? gemini.handle(ctx) : openai.handle(ctx),
  };
}

/** `GET /v1beta/models`: the models that answer on Gemini's API, in Google's list shape. */
export const geminiModelsRoute: Route = {
  methods: ["GET", "HEAD"],
  style: "google",
  label: "gemini_models",
  handle: (ctx) =>
    Response.json({ models: modelsAnsweringOn(ctx.table, "gemini").map(modelEntry) }, {
      headers: { "x-request-id": ctx.requestId },
    }),
};

/** `/v1beta/models/{model}` (GET) and `/v1beta/models/{model}:{action}` (POST). */
export const geminiModelRoute: Route = {
  methods: ["GET", "HEAD", "POST"],
  style: "google",
  label: "gemini",
  handle: (ctx) => {
    const { model, action } = target(ctx.path.slice(ctx.path.indexOf("/models/") + 8));
    const post = ctx.request.method === "POST";
    if ((action === undefined) === post) {
      return refuse(
        ctx,
        405,
        action === undefined
          ? `POST ${ctx.path}: name an action, e.g. /v1beta/models/${model}:generateContent`
          : `${ctx.request.method} ${ctx.path}: use POST for :${action}`,
      );
    }
    if (model === "" || model.length > MAX_MODEL_LENGTH) {
      return refuse(
        ctx,
        404,
        `the model name is empty or over ${MAX_MODEL_LENGTH} characters; GET /v1beta/models lists the models`,
      );
    }
    switch (action) {
      case undefined:
        return getModel(ctx, model);
      case "generateContent":
        return generate(ctx, model, false);
      case "streamGenerateContent":
        return generate(ctx, model, true);
      case "countTokens":
        return countTokens(ctx, model);
      case "embedContent":
        return embed(ctx, model, false);
      case "batchEmbedContents":
        return embed(ctx, model, true);
      default:
        return refuse(
          ctx,
          404,
          `BitRouter serves :generateContent, :streamGenerateContent, :countTokens, :embedContent and :batchEmbedContents, not :${action}`,
        );
    }
  },
};

/**
 * The model and action of a path's tail (`gemini-2.5-flash:generateContent`). Model ids may hold
 * colons (`ollama:qwen3:8b`), so only a camel-case word after the last colon is an action.
 */
function target(tail: string): { model: string; action?: string } {
  const colon = tail.lastIndexOf(":");
  const action = colon >= 0 ? tail.slice(colon + 1) : "";
  if (/^[a-z]+[A-Z][a-zA-Z]*$/.test(action)) {
    return { model: decode(tail.slice(0, colon)), action };
  }
  return { model: decode(tail) };
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function refuse(ctx: RequestContext, status: number, message: string): Response {
  return ctx.fail({ status, type: "invalid_request_error", code: null, message });
}

function getModel(ctx: RequestContext, model: string): Response {
  const resolution = resolveOrFail(ctx, model);
  if (resolution instanceof Response) return resolution;
  return Response.json(modelEntry(resolution.model), {
    headers: { "x-request-id": ctx.requestId },
  });
}

/**
 * A model in Google's shape. Token limits, versions and descriptions are what Google reports of
 * its own models; BitRouter does not know them for others, so they are left out, never guessed.
 */
function modelEntry(id: string): JsonObject {
  return {
    name: `models/${id}`,
    displayName: id,
    supportedGenerationMethods: ["generateContent", "streamGenerateContent", "countTokens"],
  };
}

async function generate(ctx: RequestContext, model: string, stream: boolean): Promise<Response> {
  const read = await readJsonBody(ctx);
  if (read instanceof Response) return read;
  if (!Array.isArray(read.body.contents)) {
    return badRequest(ctx, "contents: required, a list of Content objects (role and parts)");
  }
  const resolution = resolveOrFail(ctx, model);
  if (resolution instanceof Response) return resolution;
  // `system_instruction` as Google's curl examples write it is `systemInstruction` to the rest.
  read.body = camelCaseRequest(read.body);
  // The model and streaming are in Gemini's URL; the translations read them from the body.
  read.body.model = model;
  if (stream) read.body.stream = true;
  else delete read.body.stream;
  const endpoint: Endpoint = {
    protocol: "gemini",
    style: "google",
    framing: ctx.url.searchParams.get("alt") === "sse" ? "sse" : "json_array",
  };
  return forwardResolved(ctx, endpoint, read, resolution);
}

async function countTokens(ctx: RequestContext, model: string): Promise<Response> {
  const read = await readJsonBody(ctx);
  if (read instanceof Response) return read;
  const resolution = resolveOrFail(ctx, model);
  if (resolution instanceof Response) return resolution;
  const first = resolution.candidates[0];
  if (first.protocol === "generate_content") {
    // A Gemini upstream counts exactly: the request goes to it as sent (its model in the path).
    const id = encodeURIComponent(first.model.replace(/^models\//, ""));
    return forwardResolved(
      ctx,
      { protocol: "generate_content", style: "google", path: `/models/${id}:countTokens` },
      { ...read, body: { ...read.body, model: first.model } },
      { ...resolution, candidates: [first] },
    );
  }
  const nested = read.body.generateContentRequest ?? read.body.generate_content_request;
  const request = camelCaseRequest(isRecord(nested) ? nested : read.body);
  return Response.json({ totalTokens: estimateGeminiTokens(request) }, {
    headers: { "x-request-id": ctx.requestId, "x-bitrouter-estimate": "chars/4" },
  });
}

async function embed(ctx: RequestContext, model: string, batch: boolean): Promise<Response> {
  const read = await readJsonBody(ctx);
  if (read instanceof Response) return read;
  const requests = batch ? records(read.body.requests) : [read.body];
  if (requests.length === 0) {
    return badRequest(ctx, "requests: required, a list of EmbedContentRequest objects");
  }
  const inputs = requests.map((r) =>
    isRecord(r.content) ? records(r.content.parts).map((p) => stringOf(p.text) ?? "").join("") : ""
  );
  if (inputs.some((t) => t === "")) {
    return badRequest(ctx, "content: required, with at least one text part");
  }
  const resolution = resolveOrFail(ctx, model);
  if (resolution instanceof Response) return resolution;
  const gemini = resolution.candidates.some((c) => c.protocol === "generate_content");
  if (gemini && nestsDeeperThan(read.text)) return badRequest(ctx, tooDeepMessage());
  /**
   * A Gemini upstream embeds natively: the request as sent (task type, title and all), naming
   * the upstream's model, which batchEmbedContents requires of every request in the batch.
   */
  const native = (upstreamModel: string) => {
    const id = upstreamModel.replace(/^models\//, "");
    const name = `models/${id}`;
    const body = batch
      ? { ...read.body, requests: requests.map((r) => ({ ...r, model: name })) }
      : { ...read.body, ...(read.body.model !== undefined ? { model: name } : {}) };
    return {
      path: `/models/${encodeURIComponent(id)}:${batch ? "batchEmbedContents" : "embedContent"}`,
      body: JSON.stringify(body),
    };
  };
  const embedded = await embedInputs(
    ctx,
    resolution,
    inputs,
    numberOf(requests[0].outputDimensionality),
    "google",
    googleError,
    gemini ? { generate_content: native } : undefined,
  );
  if (embedded instanceof Response) return embedded;
  const values = embedded.vectors.map((v) => ({ values: v }));
  const out = batch ? { embeddings: values } : { embedding: values[0] ?? { values: [] } };
  return new Response(JSON.stringify(out), { status: 200, headers: embedded.headers });
}
