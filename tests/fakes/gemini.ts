/**
 * A fake Gemini API (generativelanguage.googleapis.com/v1beta) for tests: real HTTP on
 * 127.0.0.1 with the wire shapes and refusals of Google's `generateContent` endpoints.
 *
 * Shapes follow Google's documented answers:
 * - the key comes in `x-goog-api-key` (or `?key=`); none is 403 PERMISSION_DENIED ("Method
 *   doesn't allow unregistered callers"), a wrong one 400 INVALID_ARGUMENT ("API key not valid");
 *   an `Authorization: Bearer` is read as an OAuth token and refused with 401 UNAUTHENTICATED;
 * - a field the API does not know, at any level it checks, is 400 INVALID_ARGUMENT `Invalid JSON
 *   payload received. Unknown name "x" at 'generation_config': Cannot find field.`;
 * - an unknown model is 404 NOT_FOUND `models/x is not found for API version v1beta, …`;
 * - errors are `{"error":{"code","message","status"}}`;
 * - `:streamGenerateContent?alt=sse` streams `data: {GenerateContentResponse}` events (the last
 *   with `finishReason` and full `usageMetadata`); without `alt=sse`, one JSON array, item by item;
 * - `:embedContent` answers `{embedding: {values}}`, `:batchEmbedContents` `{embeddings: [...]}`,
 *   one vector per request (`outputDimensionality` long, default 3: the text's length, its word
 *   count, then 0.5s); every request of a batch must name the URL's model (`models/ID`), as
 *   Google requires, else 400 INVALID_ARGUMENT.
 */

/** What the fake answers with. */
export type GeminiAnswer =
  | { type: "text"; pieces: string[] }
  | { type: "function_call"; name: string; args: Record<string, unknown> };

/** One request the fake received. */
export interface GeminiRequest {
  method: string;
  path: string;
  search: string;
  headers: Headers;
  body: unknown;
}

/** A running fake Gemini API. */
export interface FakeGemini {
  /** "http://127.0.0.1:PORT" */
  readonly url: string;
  /** url + "/v1beta": a provider's api_base */
  readonly apiBase: string;
  readonly apiKey: string;
  readonly requests: GeminiRequest[];
  answer: GeminiAnswer;
  /** answer every generation request with this status (e.g. 503), Google-shaped */
  failWith?: number;
  close(): Promise<void>;
}

/** Options of startFakeGemini. */
export interface FakeGeminiOptions {
  apiKey?: string;
  models?: string[];
  answer?: GeminiAnswer;
}

const PROMPT_TOKENS = 9;

/** Top-level and nested fields the API knows, by where they are. */
const KNOWN: Record<string, Set<string>> = {
  request: new Set([
    "contents",
    "tools",
    "toolConfig",
    "safetySettings",
    "systemInstruction",
    "generationConfig",
    "cachedContent",
  ]),
  generation_config: new Set([
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "thinkingConfig",
    "responseModalities",
    "speechConfig",
    "mediaResolution",
  ]),
  thinking_config: new Set(["thinkingBudget", "includeThoughts", "thinkingLevel"]),
  content: new Set(["role", "parts"]),
  part: new Set([
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "thought",
    "thoughtSignature",
    "executableCode",
    "codeExecutionResult",
  ]),
  function_call: new Set(["id", "name", "args"]),
  function_response: new Set(["id", "name", "response"]),
  tool: new Set(["functionDeclarations", "googleSearch", "codeExecution", "urlContext"]),
  function_declaration: new Set([
    "name",
    "description",
    "parameters",
    "parametersJsonSchema",
    "response",
    "responseJsonSchema",
    "behavior",
  ]),
  tool_config: new Set(["functionCallingConfig"]),
  function_calling_config: new Set(["mode", "allowedFunctionNames"]),
  embed_content_request: new Set(["model", "content", "taskType", "title", "outputDimensionality"]),
  batch_embed_contents_request: new Set(["requests"]),
};

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const list = (v: unknown): Json[] => Array.isArray(v) ? v.filter(isObject) : [];

/** The first unknown field of a request, Google-style: [name, where]. */
function unknownField(body: Json): [string, string] | undefined {
  const check = (o: unknown, kind: string, where: string): [string, string] | undefined => {
    if (!isObject(o)) return undefined;
    for (const key of Object.keys(o)) if (!KNOWN[kind].has(key)) return [key, where];
    return undefined;
  };
  const contents = [
    ...list(body.contents),
    ...(isObject(body.systemInstruction) ? [body.systemInstruction] : []),
  ];
  return check(body, "request", "") ??
    check(body.generationConfig, "generation_config", "generation_config") ??
    (isObject(body.generationConfig)
      ? check(
        body.generationConfig.thinkingConfig,
        "thinking_config",
        "generation_config.thinking_config",
      )
      : undefined) ??
    contents.map((c) => check(c, "content", "contents")).find(Boolean) ??
    contents.flatMap((c) => list(c.parts)).map((p) =>
      check(p, "part", "contents[0].parts") ??
        check(p.functionCall, "function_call", "contents[0].parts[0].function_call") ??
        check(p.functionResponse, "function_response", "contents[0].parts[0].function_response")
    ).find(Boolean) ??
    list(body.tools).map((t) =>
      check(t, "tool", "tools") ??
        list(t.functionDeclarations).map((d) =>
          check(d, "function_declaration", "tools[0].function_declarations[0]")
        ).find(Boolean)
    ).find(Boolean) ??
    check(body.toolConfig, "tool_config", "tool_config") ??
    (isObject(body.toolConfig)
      ? check(
        body.toolConfig.functionCallingConfig,
        "function_calling_config",
        "tool_config.function_calling_config",
      )
      : undefined);
}

/** The first unknown field of an embedContent request, Google-style: [name, where]. */
function unknownEmbedField(body: Json, where: string): [string, string] | undefined {
  const at = (field: string) => (where ? `${where}.` : "") + field;
  for (const key of Object.keys(body)) {
    if (!KNOWN.embed_content_request.has(key)) return [key, where];
  }
  const content = isObject(body.content) ? body.content : {};
  for (const key of Object.keys(content)) {
    if (!KNOWN.content.has(key)) return [key, at("content")];
  }
  for (const part of list(content.parts)) {
    for (const key of Object.keys(part)) {
      if (!KNOWN.part.has(key)) return [key, at("content.parts[0]")];
    }
  }
  return undefined;
}

/** The fake's vector for one embedContent request. */
function embedding(request: Json): Json {
  const content = isObject(request.content) ? request.content : {};
  const text = list(content.parts).map((p) => typeof p.text === "string" ? p.text : "").join("");
  const size = typeof request.outputDimensionality === "number" ? request.outputDimensionality : 3;
  const values = [text.length, text.split(/\s+/).filter(Boolean).length];
  while (values.length < size) values.push(0.5);
  return { values: values.slice(0, size) };
}

/** The answer to `:embedContent` or `:batchEmbedContents` for `model`. */
function embedAnswer(action: string, model: string, body: Json): Response {
  const unknownAt = (name: string, where: string) =>
    googleError(
      400,
      "INVALID_ARGUMENT",
      `Invalid JSON payload received. Unknown name "${name}"${
        where ? ` at '${where}'` : ""
      }: Cannot find field.`,
    );
  if (action === "embedContent") {
    const unknown = unknownEmbedField(body, "");
    if (unknown) return unknownAt(...unknown);
    if (!isObject(body.content)) {
      return googleError(
        400,
        "INVALID_ARGUMENT",
        "* EmbedContentRequest.content: content is not specified\n",
      );
    }
    return Response.json({ embedding: embedding(body) });
  }
  for (const key of Object.keys(body)) {
    if (!KNOWN.batch_embed_contents_request.has(key)) return unknownAt(key, "");
  }
  const requests = list(body.requests);
  if (requests.length === 0) {
    return googleError(
      400,
      "INVALID_ARGUMENT",
      "* BatchEmbedContentsRequest.requests: requests is not specified\n",
    );
  }
  for (const [i, request] of requests.entries()) {
    const unknown = unknownEmbedField(request, `requests[${i}]`);
    if (unknown) return unknownAt(...unknown);
    if (request.model !== `models/${model}`) {
      return googleError(
        400,
        "INVALID_ARGUMENT",
        `* BatchEmbedContentsRequest.requests[${i}].model: every request must name the batch's model, models/${model}; got ${
          JSON.stringify(request.model)
        }\n`,
      );
    }
  }
  return Response.json({ embeddings: requests.map(embedding) });
}

function googleError(code: number, status: string, message: string): Response {
  return Response.json({ error: { code, message, status } }, { status: code });
}

/** Starts a fake Gemini API on 127.0.0.1 with an OS-chosen port. */
export async function startFakeGemini(options: FakeGeminiOptions = {}): Promise<FakeGemini> {
  const apiKey = options.apiKey ?? "AIza-fake-0123456789";
  const models = options.models ?? ["gemini-2.5-flash"];
  const requests: GeminiRequest[] = [];
  const state: { answer: GeminiAnswer; failWith?: number } = {
    answer: options.answer ?? { type: "text", pieces: ["Hello", " from", " Gemini"] },
  };

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const text = await request.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    requests.push({
      method: request.method,
      path: url.pathname,
      search: url.search,
      headers: request.headers,
      body,
    });
    if (request.headers.get("authorization")) {
      return googleError(
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
      );
    }
    const key = request.headers.get("x-goog-api-key") ?? url.searchParams.get("key");
    if (key === null) {
      return googleError(
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
      );
    }
    if (key !== apiKey) {
      return googleError(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
      );
    }
    const m = /^\/v1beta\/models\/([^:]+):(\w+)$/.exec(url.pathname);
    if (request.method === "GET" && url.pathname === "/v1beta/models") {
      return Response.json({ models: models.map((id) => ({ name: `models/${id}` })) });
    }
    if (!m || request.method !== "POST") {
      return new Response("<!DOCTYPE html><title>Error 404 (Not Found)!!1</title>", {
        status: 404,
        headers: { "content-type": "text/html; charset=UTF-8" },
      });
    }
    const [, model, action] = m;
    if (!models.includes(decodeURIComponent(model))) {
      return googleError(
        404,
        "NOT_FOUND",
        `models/${model} is not found for API version v1beta, or is not supported for ${action}. Call ListModels to see the list of available models and their supported methods.`,
      );
    }
    if (!isObject(body)) {
      return googleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
    }
    if (action === "embedContent" || action === "batchEmbedContents") {
      if (state.failWith !== undefined) {
        return googleError(
          state.failWith,
          "UNAVAILABLE",
          "The model is overloaded. Try again later.",
        );
      }
      return embedAnswer(action, decodeURIComponent(model), body);
    }
    const unknown = unknownField(body);
    if (unknown) {
      const [name, where] = unknown;
      return googleError(
        400,
        "INVALID_ARGUMENT",
        `Invalid JSON payload received. Unknown name "${name}"${
          where ? ` at '${where}'` : ""
        }: Cannot find field.`,
      );
    }
    if (!Array.isArray(body.contents) || body.contents.length === 0) {
      return googleError(
        400,
        "INVALID_ARGUMENT",
        "* GenerateContentRequest.contents: contents is not specified\n",
      );
    }
    if (state.failWith !== undefined) {
      return googleError(
        state.failWith,
        state.failWith === 429 ? "RESOURCE_EXHAUSTED" : "UNAVAILABLE",
        "The model is overloaded. Please try again later.",
      );
    }
    if (action === "countTokens") return Response.json({ totalTokens: PROMPT_TOKENS });
    if (action === "generateContent") return Response.json(whole(state.answer, model));
    if (action === "streamGenerateContent") {
      const events = streamed(state.answer, model).map((e) => JSON.stringify(e));
      const sse = url.searchParams.get("alt") === "sse";
      const pieces = sse
        ? events.map((e) => `data: ${e}\r\n\r\n`)
        : events.map((e, i) => (i === 0 ? "[" : "\n,\r\n") + e).concat("\n]");
      const encoder = new TextEncoder();
      let i = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (i === pieces.length) return controller.close();
            controller.enqueue(encoder.encode(pieces[i++]));
          },
        }),
        {
          headers: {
            "content-type": sse ? "text/event-stream" : "application/json; charset=UTF-8",
          },
        },
      );
    }
    return googleError(400, "INVALID_ARGUMENT", `unsupported action ${action}`);
  };

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  const url = `http://127.0.0.1:${server.addr.port}`;
  await Promise.resolve();
  return {
    url,
    apiBase: `${url}/v1beta`,
    apiKey,
    requests,
    get answer() {
      return state.answer;
    },
    set answer(a) {
      state.answer = a;
    },
    get failWith() {
      return state.failWith;
    },
    set failWith(s) {
      state.failWith = s;
    },
    close: () => server.shutdown(),
  };
}

function usage(output: number): Json {
  return {
    promptTokenCount: PROMPT_TOKENS,
    candidatesTokenCount: output,
    totalTokenCount: PROMPT_TOKENS + output,
  };
}

function whole(answer: GeminiAnswer, model: string): Json {
  const parts = answer.type === "text"
    ? [{ text: answer.pieces.join("") }]
    : [{ functionCall: { name: answer.name, args: answer.args } }];
  return {
    candidates: [{ content: { parts, role: "model" }, finishReason: "STOP", index: 0 }],
    usageMetadata: usage(answer.type === "text" ? answer.pieces.length : 5),
    modelVersion: model,
    responseId: "fake-response-1",
  };
}

function streamed(answer: GeminiAnswer, model: string): Json[] {
  if (answer.type === "function_call") return [whole(answer, model)];
  return answer.pieces.map((text, i) => {
    const last = i === answer.pieces.length - 1;
    const candidate: Json = { content: { parts: [{ text }], role: "model" }, index: 0 };
    if (last) candidate.finishReason = "STOP";
    return {
      candidates: [candidate],
      usageMetadata: last ? usage(answer.pieces.length) : { promptTokenCount: PROMPT_TOKENS },
      modelVersion: model,
      responseId: "fake-response-1",
    };
  });
}
