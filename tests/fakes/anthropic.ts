/**
 * A fake Anthropic API for tests: real HTTP on 127.0.0.1 with the wire shapes (and failure modes)
 * of api.anthropic.com's Messages endpoints.
 *
 * Shapes follow Anthropic's documented answers:
 * - every request needs the key, in `x-api-key` or — as @anthropic-ai/sdk 1.x sends it —
 *   `Authorization: Bearer` (else 401 `authentication_error` "invalid x-api-key"), and
 *   `anthropic-version` (400 `invalid_request_error`); a body without `max_tokens`, `model` or
 *   `messages` is a 400 naming the field (`max_tokens: Field required`);
 * - errors are `{"type":"error","error":{"type","message"},"request_id"}` with a `request-id`
 *   header; 429 is `rate_limit_error` with `retry-after`, 529 is `overloaded_error`;
 * - a stream is `message_start`, `ping`, then per block `content_block_start` / `_delta` /
 *   `_stop` (tool input as several `input_json_delta` pieces), `message_delta` with the stop
 *   reason and output usage, `message_stop` — each with its `event:` name.
 *
 * Unlike tests/fakes/upstream.ts this fake has no relay in front of Deno.serve, so it does not
 * report client disconnects; the proxy's abort tests use the chat fakes.
 */

/** What the fake answers with. */
export type AnthropicAnswer =
  /** text in these streamed pieces (one text block) */
  | { type: "text"; pieces: string[] }
  /** optional text first, then one tool call whose input JSON is streamed in `chunks` pieces */
  | {
    type: "tool_use";
    name: string;
    input: Record<string, unknown>;
    text?: string;
    chunks?: number;
  };

/** A failure the fake acts out for the requests that arrive after it is set. */
export type AnthropicFault =
  | { type: "none" }
  /** 429 rate_limit_error with a retry-after header (seconds) */
  | { type: "rate_limit"; retryAfterSecs?: number }
  /** 529 overloaded_error */
  | { type: "overloaded" }
  /** streaming: send N events, then break the body (no message_stop) */
  | { type: "die_after"; events: number };

/** One request the fake received. */
export interface AnthropicRequest {
  method: string;
  path: string;
  headers: Headers;
  /** parsed JSON, else the text; null without a body */
  body: unknown;
}

/** Options of startFakeAnthropic. */
export interface FakeAnthropicOptions {
  /** the key `x-api-key` (or `Authorization: Bearer`) must carry (default "sk-ant-test") */
  apiKey?: string;
  /** the answer (default text "Hello", " from", " Claude") */
  answer?: AnthropicAnswer;
  /** streaming: the pause before each event after the first (default 0) */
  eventDelayMs?: number;
}

/** A running fake Anthropic API. */
export interface FakeAnthropic {
  /** "http://127.0.0.1:PORT" — the SDK's baseURL */
  readonly url: string;
  /** url + "/v1" — a provider's api_base */
  readonly apiBase: string;
  readonly apiKey: string;
  readonly requests: AnthropicRequest[];
  answer: AnthropicAnswer;
  fault: AnthropicFault;
  close(): Promise<void>;
}

const DEFAULT_ANSWER: AnthropicAnswer = { type: "text", pieces: ["Hello", " from", " Claude"] };
const INPUT_TOKENS = 25;
const encoder = new TextEncoder();

/** Starts a fake Anthropic API on 127.0.0.1 with an OS-chosen port. */
export async function startFakeAnthropic(
  options: FakeAnthropicOptions = {},
): Promise<FakeAnthropic> {
  const requests: AnthropicRequest[] = [];
  let ids = 0;
  const nextId = (prefix: string) => `${prefix}_01Fake${(++ids).toString().padStart(8, "0")}`;
  const state = {
    answer: options.answer ?? DEFAULT_ANSWER,
    fault: { type: "none" } as AnthropicFault,
  };
  const apiKey = options.apiKey ?? "sk-ant-test";

  const error = (status: number, type: string, message: string, headers: HeadersInit = {}) => {
    const requestId = nextId("req");
    return new Response(
      JSON.stringify({ type: "error", error: { type, message }, request_id: requestId }),
      {
        status,
        headers: { "content-type": "application/json", "request-id": requestId, ...headers },
      },
    );
  };

  const handle = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const text = await request.text();
    const body = parseBody(text);
    requests.push({ method: request.method, path: url.pathname, headers: request.headers, body });

    const route = `${request.method} ${url.pathname}`;
    if (route !== "POST /v1/messages" && route !== "POST /v1/messages/count_tokens") {
      return error(404, "not_found_error", `Not Found`);
    }
    const bearer = request.headers.get("authorization");
    if (request.headers.get("x-api-key") !== apiKey && bearer !== `Bearer ${apiKey}`) {
      return error(401, "authentication_error", "invalid x-api-key");
    }
    if (!request.headers.get("anthropic-version")) {
      return error(400, "invalid_request_error", "anthropic-version: header is required");
    }
    const fault = state.fault;
    if (fault.type === "rate_limit") {
      return error(
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit",
        {
          "retry-after": String(fault.retryAfterSecs ?? 1),
        },
      );
    }
    if (fault.type === "overloaded") return error(529, "overloaded_error", "Overloaded");
    if (!isObject(body)) {
      return error(
        400,
        "invalid_request_error",
        "There was an error parsing the body of your request",
      );
    }
    const required = url.pathname.endsWith("/count_tokens")
      ? ["model", "messages"]
      : ["model", "messages", "max_tokens"];
    for (const field of required) {
      if (body[field] === undefined) {
        return error(400, "invalid_request_error", `${field}: Field required`);
      }
    }
    if (url.pathname.endsWith("/count_tokens")) {
      return json({ input_tokens: countTokens(body) });
    }
    const message = {
      id: nextId("msg"),
      type: "message",
      role: "assistant",
      model: String(body.model),
      content: contentOf(state.answer, nextId("toolu")),
      stop_reason: state.answer.type === "tool_use" ? "tool_use" : "end_turn",
      stop_sequence: null,
      usage: usage(state.answer),
    };
    if (body.stream !== true) return json(message, { "request-id": nextId("req") });
    const events = streamEvents(message, state.answer);
    return stream(
      fault.type === "die_after" ? events.slice(0, fault.events) : events,
      fault,
      options.eventDelayMs ?? 0,
    );
  };

  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  await new Promise<void>((resolve) => {
    server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => resolve(),
      // A body broken on purpose (die_after) lands here; keep it out of the test output.
      onError: () => new Response(null, { status: 500 }),
    }, handle);
  });
  const running = server!;
  const url = `http://127.0.0.1:${running.addr.port}`;
  return {
    url,
    apiBase: `${url}/v1`,
    apiKey,
    requests,
    get answer() {
      return state.answer;
    },
    set answer(value: AnthropicAnswer) {
      state.answer = value;
    },
    get fault() {
      return state.fault;
    },
    set fault(value: AnthropicFault) {
      state.fault = value;
    },
    close: () => running.shutdown(),
  };
}

function contentOf(answer: AnthropicAnswer, toolId: string): Record<string, unknown>[] {
  if (answer.type === "text") return [{ type: "text", text: answer.pieces.join("") }];
  const blocks: Record<string, unknown>[] = [];
  if (answer.text) blocks.push({ type: "text", text: answer.text });
  blocks.push({ type: "tool_use", id: toolId, name: answer.name, input: answer.input });
  return blocks;
}

function usage(answer: AnthropicAnswer): Record<string, unknown> {
  const output = answer.type === "text" ? answer.pieces.length : 12;
  return {
    input_tokens: INPUT_TOKENS,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: output,
    service_tier: "standard",
  };
}

/** Anthropic's event sequence for a finished message. */
function streamEvents(
  message: Record<string, unknown> & { content: Record<string, unknown>[] },
  answer: AnthropicAnswer,
): string[] {
  const out: string[] = [];
  const emit = (name: string, data: Record<string, unknown>) =>
    out.push(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  const fullUsage = message.usage as Record<string, unknown>;
  emit("message_start", {
    type: "message_start",
    message: {
      ...message,
      content: [],
      stop_reason: null,
      usage: { ...fullUsage, output_tokens: 1 },
    },
  });
  emit("ping", { type: "ping" });
  message.content.forEach((block, index) => {
    if (block.type === "text") {
      emit("content_block_start", {
        type: "content_block_start",
        index,
        content_block: { type: "text", text: "" },
      });
      const pieces = answer.type === "text" ? answer.pieces : [String(block.text)];
      for (const text of pieces) {
        emit("content_block_delta", {
          type: "content_block_delta",
          index,
          delta: { type: "text_delta", text },
        });
      }
    } else {
      emit("content_block_start", {
        type: "content_block_start",
        index,
        content_block: { ...block, input: {} },
      });
      const chunks = answer.type === "tool_use" ? answer.chunks ?? 3 : 3;
      // Anthropic's first input_json_delta is often empty; the rest split the JSON anywhere.
      for (const partial of ["", ...split(JSON.stringify(block.input), chunks)]) {
        emit("content_block_delta", {
          type: "content_block_delta",
          index,
          delta: { type: "input_json_delta", partial_json: partial },
        });
      }
    }
    emit("content_block_stop", { type: "content_block_stop", index });
  });
  emit("message_delta", {
    type: "message_delta",
    delta: { stop_reason: message.stop_reason, stop_sequence: null },
    usage: { output_tokens: fullUsage.output_tokens },
  });
  emit("message_stop", { type: "message_stop" });
  return out;
}

/** A text in n pieces of about equal length. */
function split(text: string, n: number): string[] {
  const size = Math.ceil(text.length / Math.max(1, n));
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces;
}

function stream(events: string[], fault: AnthropicFault, delayMs: number): Response {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (delayMs > 0 && sent > 0) await new Promise((r) => setTimeout(r, delayMs));
      if (sent === events.length) {
        if (fault.type === "die_after") {
          controller.error(new Error("fake Anthropic died mid-stream"));
        } else controller.close();
        return;
      }
      controller.enqueue(encoder.encode(events[sent++]));
    },
  }, { highWaterMark: 0 });
  return new Response(body, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
  });
}

/** The fake's token count: a quarter of the characters of the messages, system and tools. */
function countTokens(body: Record<string, unknown>): number {
  const text = JSON.stringify([body.system ?? "", body.messages, body.tools ?? []]);
  return Math.ceil(text.length / 4);
}

function json(value: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), {
    headers: { "content-type": "application/json", ...headers },
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseBody(text: string): unknown {
  if (text === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
