/**
 * A fake OpenAI Responses API (`POST /v1/responses`) on 127.0.0.1 for tests of pass-through to a
 * `responses` upstream: whole and streamed answers with the API's real event sequence (every event
 * named, typed and numbered), a text answer or a scripted function call whose arguments arrive
 * over several deltas, stored responses that `previous_response_id` continues (unless the request
 * said `store: false`), and OpenAI's error envelope for a bad key (401) or an unknown previous
 * response (400). Each request is recorded with its headers, its body and the whole conversation
 * the fake answered.
 */

/** How the fake answers. */
export interface FakeResponsesOptions {
  /** when set, demand `Authorization: Bearer <apiKey>`, else 401 */
  apiKey?: string;
  /** pieces of the text answer, one output_text.delta each; default ["Hello", " from", " responses"] */
  content?: string[];
  /** answer with this function call instead of text, its arguments in these pieces */
  functionCall?: { name: string; arguments: string[] };
}

/** One request the fake received. */
export interface RecordedResponsesRequest {
  headers: Headers;
  /** the parsed JSON body */
  body: Record<string, unknown>;
  /** every item the answer was based on: the stored conversation it continues, then its input */
  conversation: unknown[];
}

/** A running fake Responses API. */
export interface FakeResponses {
  /** "http://127.0.0.1:PORT" */
  readonly url: string;
  /** url + "/v1" */
  readonly apiBase: string;
  readonly requests: RecordedResponsesRequest[];
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

/** Starts a fake Responses API server with an OS-chosen port. */
export async function startFakeResponses(
  options: FakeResponsesOptions = {},
): Promise<FakeResponses> {
  const requests: RecordedResponsesRequest[] = [];
  /** stored responses: the conversation up to and including each one's output */
  const stored = new Map<string, unknown[]>();
  let ids = 0;
  const addr = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: addr.resolve },
    async (request) => {
      const path = new URL(request.url).pathname;
      if (path !== "/v1/responses") {
        return apiError(404, `Invalid URL (${request.method} ${path})`, "invalid_request_error");
      }
      if (request.method !== "POST") {
        return apiError(405, `Method ${request.method} not allowed`, "invalid_request_error");
      }
      if (options.apiKey !== undefined) {
        const auth = request.headers.get("authorization");
        if (auth === null) {
          return apiError(
            401,
            "You didn't provide an API key.",
            "invalid_request_error",
            null,
            "missing_api_key",
          );
        }
        if (auth !== `Bearer ${options.apiKey}`) {
          const shown = auth.replace(/^Bearer /, "").slice(0, 8);
          return apiError(
            401,
            `Incorrect API key provided: ${shown}****.`,
            "invalid_request_error",
            null,
            "invalid_api_key",
          );
        }
      }
      let body: Json;
      try {
        const parsed: unknown = JSON.parse(await request.text());
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
          throw new Error();
        }
        body = parsed as Json;
      } catch {
        return apiError(
          400,
          "We could not parse the JSON body of your request.",
          "invalid_request_error",
        );
      }
      if (typeof body.model !== "string") {
        return apiError(
          400,
          "Missing required parameter: 'model'.",
          "invalid_request_error",
          "model",
          "missing_required_parameter",
        );
      }
      const previousId = body.previous_response_id;
      let earlier: unknown[] = [];
      if (typeof previousId === "string") {
        const found = stored.get(previousId);
        if (!found) {
          return apiError(
            400,
            `Previous response with id '${previousId}' not found.`,
            "invalid_request_error",
            "previous_response_id",
            "previous_response_not_found",
          );
        }
        earlier = found;
      }
      const input = typeof body.input === "string"
        ? [{ type: "message", role: "user", content: [{ type: "input_text", text: body.input }] }]
        : Array.isArray(body.input)
        ? body.input
        : [];
      const conversation = [...earlier, ...input];
      requests.push({ headers: request.headers, body, conversation });

      ids++;
      const answer = new Answer(ids, body, options);
      // The API stores by default; store: false is how Codex and stateless clients opt out.
      if (body.store !== false) stored.set(answer.id, [...conversation, ...answer.output()]);
      const headers = { "x-request-id": `req_fake_${ids}` };
      if (body.stream !== true) return Response.json(answer.response("completed"), { headers });
      return new Response(answer.events(), {
        headers: { ...headers, "content-type": "text/event-stream; charset=utf-8" },
      });
    },
  );
  const { port } = await addr.promise;
  const url = `http://127.0.0.1:${port}`;
  return { url, apiBase: `${url}/v1`, requests, close: () => server.shutdown() };
}

function apiError(
  status: number,
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
): Response {
  return Response.json({ error: { message, type, param, code } }, { status });
}

/** One answer: its output items, the response object, and its streamed events. */
class Answer {
  readonly id: string;
  readonly #n: number;
  readonly #body: Json;
  readonly #options: FakeResponsesOptions;

  constructor(n: number, body: Json, options: FakeResponsesOptions) {
    this.#n = n;
    this.id = `resp_${hex(n)}`;
    this.#body = body;
    this.#options = options;
  }

  #text(): string[] {
    return this.#options.content ?? ["Hello", " from", " responses"];
  }

  /** The finished output items. */
  output(): Json[] {
    const call = this.#options.functionCall;
    if (call) {
      return [{
        id: `fc_${hex(this.#n)}`,
        type: "function_call",
        status: "completed",
        arguments: call.arguments.join(""),
        call_id: `call_${hex(this.#n)}`,
        name: call.name,
      }];
    }
    return [{
      id: `msg_${hex(this.#n)}`,
      type: "message",
      status: "completed",
      content: [{
        type: "output_text",
        annotations: [],
        logprobs: [],
        text: this.#text().join(""),
      }],
      role: "assistant",
    }];
  }

  response(status: "in_progress" | "completed"): Json {
    const b = this.#body;
    const done = status === "completed";
    return {
      id: this.id,
      object: "response",
      created_at: 1764000000 + this.#n,
      status,
      background: false,
      error: null,
      incomplete_details: null,
      instructions: b.instructions ?? null,
      max_output_tokens: b.max_output_tokens ?? null,
      model: b.model,
      output: done ? this.output() : [],
      parallel_tool_calls: b.parallel_tool_calls ?? true,
      previous_response_id: b.previous_response_id ?? null,
      reasoning: { effort: null, summary: null },
      store: b.store ?? true,
      temperature: b.temperature ?? 1,
      text: b.text ?? { format: { type: "text" } },
      tool_choice: b.tool_choice ?? "auto",
      tools: b.tools ?? [],
      top_p: b.top_p ?? 1,
      truncation: "disabled",
      usage: done
        ? {
          input_tokens: 12,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: 6,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: 18,
        }
        : null,
      metadata: b.metadata ?? {},
    };
  }

  /** The SSE body, in the order the API sends it. */
  events(): ReadableStream<Uint8Array> {
    const events: Json[] = [
      { type: "response.created", response: this.response("in_progress") },
      { type: "response.in_progress", response: this.response("in_progress") },
    ];
    const [item] = this.output();
    const at = { item_id: item.id, output_index: 0 };
    const call = this.#options.functionCall;
    if (call) {
      events.push({
        type: "response.output_item.added",
        output_index: 0,
        item: { ...item, status: "in_progress", arguments: "" },
      });
      for (const delta of call.arguments) {
        events.push({ type: "response.function_call_arguments.delta", ...at, delta });
      }
      events.push({
        type: "response.function_call_arguments.done",
        ...at,
        arguments: item.arguments,
      });
    } else {
      const text = this.#text().join("");
      const part = (t: string) => ({ type: "output_text", annotations: [], logprobs: [], text: t });
      const inPart = { ...at, content_index: 0 };
      events.push({
        type: "response.output_item.added",
        output_index: 0,
        item: { ...item, status: "in_progress", content: [] },
      });
      events.push({ type: "response.content_part.added", ...inPart, part: part("") });
      for (const delta of this.#text()) {
        events.push({ type: "response.output_text.delta", ...inPart, delta, logprobs: [] });
      }
      events.push({ type: "response.output_text.done", ...inPart, text, logprobs: [] });
      events.push({ type: "response.content_part.done", ...inPart, part: part(text) });
    }
    events.push({ type: "response.output_item.done", output_index: 0, item });
    events.push({ type: "response.completed", response: this.response("completed") });
    const text = events
      .map((e, i) => `event: ${e.type}\ndata: ${JSON.stringify({ ...e, sequence_number: i })}\n\n`);
    const encoder = new TextEncoder();
    return new ReadableStream({
      start(controller) {
        // One write per event, as the API flushes them.
        for (const t of text) controller.enqueue(encoder.encode(t));
        controller.close();
      },
    });
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(32, "0");
}
