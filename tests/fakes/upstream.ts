/**
 * Fake model servers for tests: real HTTP on 127.0.0.1 with the wire shapes (and the failure
 * modes) of Ollama, vLLM, LM Studio, llama.cpp's llama-server and the hosted OpenAI API.
 *
 * Shapes follow the servers' own sources and documented answers:
 * - Ollama's OpenAI layer wraps its errors as `{"error":{"message","type","param":null,"code":null}}`
 *   with `type` `invalid_request_error` (400), `not_found_error` (404) or `api_error`; an unknown model
 *   answers 404 `model 'X' not found` (older releases said `model "X" not found, try pulling it
 *   first`); a bare name means the `:latest` tag.
 * - vLLM answers `{"error":{"message","type":"NotFoundError","param","code":404}}` with the numeric
 *   status as `code`, and `{"error":"Unauthorized"}` when `--api-key` does not match.
 * - llama.cpp answers `{"error":{"code","message","type"}}` and serves its one model whatever name
 *   is asked.
 * - LM Studio serves its one loaded model whatever name is asked; with several loaded, an unknown
 *   name is a 400 `model_not_found`.
 * - OpenAI answers 401 `invalid_api_key` / 404 `model_not_found` in its envelope.
 */

export type FakeKind = "ollama" | "vllm" | "lmstudio" | "llamacpp" | "openai";

export type Fault =
  | { type: "none" }
  /** accept the request, never send headers (until the client goes away or the fake closes) */
  | { type: "hang" }
  /** answer every request with this status (e.g. 429 + Retry-After, 500 HTML page, 503) */
  | { type: "status"; status: number; body?: string; headers?: Record<string, string> }
  /** streaming: send N SSE events, then kill the body with an error (no [DONE]) */
  | { type: "die_after"; chunks: number }
  /** streaming: send N SSE events, then go silent forever (until aborted) */
  | { type: "stall_after"; chunks: number }
  /** send 200 and the headers of the answer asked for (SSE or JSON), then nothing, ever */
  | { type: "headers_then_silence" }
  /** send the answer (streamed or whole) one byte at a time, `intervalMs` apart */
  | { type: "drip"; intervalMs: number }
  /** streaming: SSE events of about `eventBytes` (default 1024) each, without end, as fast as read */
  | { type: "flood"; eventBytes?: number }
  /** the usual answer (streamed or whole), gzip-encoded with `content-encoding: gzip` */
  | { type: "gzip" };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Headers;
  /** parsed JSON, else the text; null when the request had no body */
  body: unknown;
  /** performance.now() when the request arrived */
  at: number;
  /** performance.now() when the fake saw the client go away mid-request, if it did */
  abortedAt?: number;
  /**
   * Bytes of a streamed, dripped, flooded or silent answer handed to the runtime so far (the
   * runtime asks for more only as the connection drains), and performance.now() at each piece.
   */
  sentBytes?: number;
  sentAt?: number[];
}

export interface FakeUpstreamOptions {
  kind: FakeKind;
  /** models the server has (Ollama: pulled); default one per kind */
  models?: string[];
  /** when set, demand `Authorization: Bearer <apiKey>` on /v1 paths, else 401 */
  apiKey?: string;
  /** the first request for each model waits this long before sending headers */
  firstLoadMs?: number;
  /** delay between streamed events (default 0) */
  chunkDelayMs?: number;
  /** pieces of the answer; default ["Hello", " from", " <kind>"] */
  content?: string[];
  /**
   * answer chat requests with these tool calls instead of text: plain, `message.tool_calls` and
   * finish_reason `tool_calls`; streamed, one delta naming each call, then its arguments split
   * over several chunks
   */
  toolCalls?: FakeToolCall[];
  /** models already loaded at start (Ollama's /api/ps lists them); default none */
  loaded?: string[];
  /** the public port; default 0 (OS-chosen). Set it to bring a server back where one was. */
  port?: number;
  /**
   * like llama-server's slots: at most this many generate requests are worked on at once, the
   * rest wait first come first served; llama.cpp's /props reports it as `total_slots` (default 1)
   */
  slots?: number;
  /** how long each generate request holds its slot before its answer starts (default 0) */
  workMs?: number;
  /**
   * a prompt cache: a request whose opening (system prompt and first user message) this server
   * has answered before waits `hitMs` before its answer starts, a new one `missMs` (in its slot)
   */
  promptCache?: { hitMs: number; missMs: number };
}

/** A tool call a fake answers with. */
export interface FakeToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

/** How many chunks a streamed tool call's arguments are split over. */
const ARGUMENT_CHUNKS = 3;

export interface FakeUpstream {
  readonly kind: FakeKind;
  /** "http://127.0.0.1:PORT" */
  readonly url: string;
  /** url + "/v1" */
  readonly apiBase: string;
  readonly requests: RecordedRequest[];
  /** TCP connections open to the fake right now (from BitRouter's connection pool, or a test) */
  readonly connections: number;
  /** The port of the HTTP server behind the relay (for tests that look at socket queues). */
  readonly innerPort: number;
  /** applies to the requests that arrive after it is set */
  fault: Fault;
  /**
   * Resolves with performance.now() at the next moment a client goes away from an in-flight
   * request (request.signal abort, stream cancel, failed enqueue). Only aborts after the call
   * count: call it before triggering the abort.
   */
  nextAbort(): Promise<number>;
  /** shuts down promptly, releasing hanging and stalled requests */
  close(): Promise<void>;
  /** generate requests in a slot now, the most there have been at once, and those waiting for one */
  readonly active: number;
  readonly maxActive: number;
  readonly waiting: number;
}

const DEFAULT_MODELS: Record<FakeKind, string[]> = {
  ollama: ["llama3.1:latest"],
  vllm: ["meta-llama/Llama-3.1-8B-Instruct"],
  lmstudio: ["qwen2.5-7b-instruct"],
  llamacpp: ["Llama-3.1-8B-Instruct-Q4_K_M.gguf"],
  openai: ["gpt-4o-mini", "text-embedding-3-small"],
};

const OWNED_BY: Record<FakeKind, string> = {
  ollama: "library",
  vllm: "vllm",
  lmstudio: "organization_owner",
  llamacpp: "llamacpp",
  openai: "system",
};

const FINGERPRINT: Record<FakeKind, string | undefined> = {
  ollama: "fp_ollama",
  vllm: undefined,
  lmstudio: "qwen2.5-7b-instruct",
  llamacpp: "b6100-2f2f2f2f",
  openai: "fp_f33640a400",
};

const CREATED = 1721172741;
const EMBEDDING_DIMENSIONS = 8;
const encoder = new TextEncoder();

/** Starts a fake model server of the given kind on 127.0.0.1 with an OS-chosen port. */
export async function startFake(options: FakeUpstreamOptions): Promise<FakeUpstream> {
  const fake = new Fake(options);
  await fake.listen();
  return fake;
}

/** A loopback URL (http://127.0.0.1:PORT/v1) on which nothing listens. */
export async function refusedApiBase(): Promise<string> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  // Let the close settle so a connect to the port is refused rather than queued.
  await new Promise((resolve) => setTimeout(resolve, 0));
  return `http://127.0.0.1:${port}/v1`;
}

class Fake implements FakeUpstream {
  readonly kind: FakeKind;
  readonly requests: RecordedRequest[] = [];
  fault: Fault = { type: "none" };
  url = "";
  apiBase = "";
  innerPort = 0;

  readonly #models: string[];
  readonly #apiKey: string | undefined;
  readonly #firstLoadMs: number;
  readonly #chunkDelayMs: number;
  readonly #content: string[];
  readonly #toolCalls: FakeToolCall[] | undefined;
  readonly #loaded: Set<string>;
  readonly #port: number;
  readonly #slots: number | undefined;
  readonly #workMs: number;
  readonly #promptCache: { hitMs: number; missMs: number } | undefined;
  readonly #seenOpenings = new Set<string>();
  readonly #slotWaiters: Array<() => void> = [];
  active = 0;
  maxActive = 0;
  readonly #closing = new AbortController();
  #abortWaiters: Array<(at: number) => void> = [];
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  #listener: Deno.TcpListener | undefined;
  #accepting: Promise<void> | undefined;
  readonly #relays = new Set<Promise<void>>();
  readonly #conns = new Set<{ client: Deno.TcpConn; server: Deno.TcpConn }>();
  /** per relayed connection (keyed by its port towards Deno.serve): aborts when the client left */
  readonly #gone = new Map<number, AbortController>();
  #ids = 0;

  constructor(options: FakeUpstreamOptions) {
    this.kind = options.kind;
    this.#models = options.models ?? DEFAULT_MODELS[options.kind];
    this.#apiKey = options.apiKey;
    this.#firstLoadMs = options.firstLoadMs ?? 0;
    this.#chunkDelayMs = options.chunkDelayMs ?? 0;
    this.#content = options.content ?? ["Hello", " from", ` ${options.kind}`];
    this.#toolCalls = options.toolCalls;
    this.#loaded = new Set(options.loaded ?? []);
    this.#port = options.port ?? 0;
    this.#slots = options.slots;
    this.#workMs = options.workMs ?? 0;
    this.#promptCache = options.promptCache;
  }

  get waiting(): number {
    return this.#slotWaiters.length;
  }

  /**
   * Runs a generate request in a slot: waits for one (first come first served) when `slots` are
   * all taken, works `workMs` (plus the prompt cache's time), answers, frees the slot. A client
   * that leaves while waiting or working gets nothing.
   */
  async #inSlot(
    text: string,
    record: RecordedRequest,
    signal: AbortSignal,
    answer: () => Promise<Response> | Response,
  ): Promise<Response> {
    if (this.#slots === undefined && this.#workMs === 0 && !this.#promptCache) return answer();
    if (this.#slots !== undefined && this.active >= this.#slots) {
      let ready!: () => void;
      const got = new Promise<void>((resolve) => (ready = resolve));
      this.#slotWaiters.push(ready);
      const stop = AbortSignal.any([signal, this.#closing.signal]);
      const left = await Promise.race([
        got.then(() => false),
        new Promise<boolean>((resolve) => {
          if (stop.aborted) resolve(true);
          stop.addEventListener("abort", () => resolve(true), { once: true });
        }),
      ]);
      if (left) {
        const i = this.#slotWaiters.indexOf(ready);
        if (i >= 0) this.#slotWaiters.splice(i, 1);
        else this.#freeSlot(); // the slot came as the client left: pass it on
        if (signal.aborted) this.#markAborted(record);
        return new Response(null, { status: 503 });
      }
    } else this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      let ms = this.#workMs;
      if (this.#promptCache) {
        const opening = openingOf(parseBody(text));
        ms += this.#seenOpenings.has(opening) ? this.#promptCache.hitMs : this.#promptCache.missMs;
        this.#seenOpenings.add(opening);
      }
      if (ms > 0 && !await this.#wait(ms, record, signal)) {
        return new Response(null, { status: 503 });
      }
      return await answer();
    } finally {
      this.#freeSlot();
    }
  }

  /** Hands the slot to the first waiter, or frees it. */
  #freeSlot(): void {
    const next = this.#slotWaiters.shift();
    if (next) next();
    else this.active--;
  }

  /**
   * Deno.serve does not fire request.signal when a client disconnects after sending a request
   * that did not fit its first read (≈512 bytes, so most chat requests), which would make a
   * fake blind to aborts. So the public port is a byte relay in front of the HTTP server: it
   * sees the client's EOF itself and tells the handler, keyed by the relay's inner local port.
   */
  async listen(): Promise<void> {
    const inner = await new Promise<Deno.NetAddr>((resolve) => {
      this.#server = Deno.serve({
        hostname: "127.0.0.1",
        port: 0,
        onListen: resolve,
        // A body broken on purpose (die_after) lands here; keep it out of the test output.
        onError: () => new Response(null, { status: 500 }),
      }, (request, info) => this.#handle(request, info.remoteAddr.port));
    });
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: this.#port });
    this.url = `http://127.0.0.1:${this.#listener.addr.port}`;
    this.apiBase = `${this.url}/v1`;
    this.innerPort = inner.port;
    this.#accepting = this.#accept(this.#listener, inner.port);
  }

  async #accept(listener: Deno.TcpListener, innerPort: number): Promise<void> {
    try {
      for await (const client of listener) {
        this.#relays.add(this.#relay(client, innerPort));
      }
    } catch {
      // the listener was closed
    }
  }

  async #relay(client: Deno.TcpConn, innerPort: number): Promise<void> {
    let server: Deno.TcpConn;
    try {
      server = await Deno.connect({ hostname: "127.0.0.1", port: innerPort });
    } catch {
      client.close();
      return;
    }
    const key = server.localAddr.port;
    const gone = new AbortController();
    this.#gone.set(key, gone);
    const conns = { client, server };
    this.#conns.add(conns);
    // Either side ending ends both; the client's end is what the handlers wait on.
    const shut = () => {
      gone.abort();
      for (const conn of [client, server]) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    };
    await Promise.all([
      pump(client, server).finally(shut),
      pump(server, client).finally(shut),
    ]);
    this.#gone.delete(key);
    this.#conns.delete(conns);
  }

  get connections(): number {
    return this.#conns.size;
  }

  nextAbort(): Promise<number> {
    return new Promise((resolve) => this.#abortWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.#closing.abort();
    this.#listener?.close();
    await this.#accepting;
    for (const { client, server } of this.#conns) {
      for (const conn of [client, server]) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    }
    await Promise.all(this.#relays);
    await this.#server?.shutdown();
  }

  #markAborted(record: RecordedRequest): void {
    if (record.abortedAt !== undefined || this.#closing.signal.aborted) return;
    const at = performance.now();
    record.abortedAt = at;
    const waiters = this.#abortWaiters;
    this.#abortWaiters = [];
    for (const resolve of waiters) resolve(at);
  }

  /** Waits ms; false when the client went away or the fake is closing first. */
  async #wait(ms: number, record: RecordedRequest, signal: AbortSignal): Promise<boolean> {
    const stop = AbortSignal.any([signal, this.#closing.signal]);
    const finished = stop.aborted ? false : await new Promise<boolean>((resolve) => {
      const onStop = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = ms === Infinity ? undefined : setTimeout(() => {
        stop.removeEventListener("abort", onStop);
        resolve(true);
      }, ms);
      stop.addEventListener("abort", onStop, { once: true });
    });
    if (!finished && signal.aborted) this.#markAborted(record);
    return finished;
  }

  async #handle(request: Request, relayPort: number): Promise<Response> {
    const url = new URL(request.url);
    const relayGone = this.#gone.get(relayPort)?.signal;
    const clientGone = relayGone ? AbortSignal.any([request.signal, relayGone]) : request.signal;
    let text = "";
    try {
      text = await request.text();
    } catch {
      return new Response(null, { status: 400 });
    }
    const record: RecordedRequest = {
      method: request.method,
      path: url.pathname,
      headers: request.headers,
      body: parseBody(text),
      at: performance.now(),
    };
    this.requests.push(record);

    const fault = this.fault;
    if (fault.type === "hang") {
      await this.#wait(Infinity, record, clientGone);
      return new Response(null, { status: 503 });
    }
    if (fault.type === "status") return this.#statusFault(fault);
    if (fault.type === "headers_then_silence") {
      const streamed = (record.body as { stream?: unknown } | null)?.stream === true;
      return this.#pieces(() => undefined, record, clientGone, {
        contentType: streamed ? "text/event-stream" : "application/json",
        stallAt: 0,
      });
    }

    if (this.#needsKey(url.pathname) && !this.#authorized(request.headers)) {
      return this.#unauthorized(request.headers);
    }
    return await this.#route(request, url.pathname, text, record, clientGone, fault);
  }

  #route(
    request: Request,
    path: string,
    text: string,
    record: RecordedRequest,
    clientGone: AbortSignal,
    fault: Fault,
  ): Promise<Response> | Response {
    const kind = this.kind;
    const route = `${request.method} ${path}`;
    switch (route) {
      case "POST /v1/chat/completions":
      case "POST /v1/completions":
      case "POST /v1/embeddings":
        return this.#inSlot(
          text,
          record,
          clientGone,
          () => this.#generate(route, text, record, clientGone, fault),
        );
      case "GET /v1/models":
        return json(this.#modelList());
    }
    if (request.method === "GET" && path.startsWith("/v1/models/")) {
      const id = decodeURIComponent(path.slice("/v1/models/".length));
      const served = this.#resolveModel(id);
      if (served === undefined) return this.#unknownModel(id);
      return json(this.#modelCard(served));
    }
    if (kind === "ollama") {
      switch (route) {
        case "GET /":
          return new Response("Ollama is running", {
            headers: { "content-type": "text/plain; charset=utf-8" },
          });
        case "GET /api/version":
          return json({ version: "0.12.6" }, 200, GO_JSON);
        case "GET /api/tags":
          return json({ models: this.#models.map((m) => ollamaModel(m)) }, 200, GO_JSON);
        case "GET /api/ps":
          return json(
            {
              models: this.#models.filter((m) => this.#loaded.has(m)).map((m) => ({
                ...ollamaModel(m),
                expires_at: new Date(Date.now() + 5 * 60_000).toISOString(),
                size_vram: 4920753328,
                context_length: 4096,
              })),
            },
            200,
            GO_JSON,
          );
      }
    }
    if (kind === "llamacpp") {
      switch (route) {
        case "GET /health":
          return json({ status: "ok" });
        case "GET /props":
          return json({
            default_generation_settings: { n_ctx: 4096, params: { temperature: 0.8, top_p: 0.95 } },
            total_slots: this.#slots ?? 1,
            model_alias: this.#models[0],
            model_path: `/models/${this.#models[0]}`,
            chat_template: "{{ bos_token }}{% for message in messages %}...{% endfor %}",
            modalities: { vision: false, audio: false },
            build_info: "b6100-2f2f2f2f",
          });
      }
    }
    if (kind === "vllm") {
      switch (route) {
        case "GET /version":
          return json({ version: "0.11.0" });
        case "GET /health":
          return new Response(null, { status: 200 });
      }
    }
    if (kind === "lmstudio" && route === "GET /api/v0/models") {
      return json({
        object: "list",
        data: this.#models.map((id) => ({
          id,
          object: "model",
          type: "llm",
          publisher: "lmstudio-community",
          arch: "qwen2",
          compatibility_type: "gguf",
          quantization: "Q4_K_M",
          state: "loaded",
          max_context_length: 32768,
        })),
      });
    }
    return this.#notFoundPath(request.method, path);
  }

  async #generate(
    route: string,
    text: string,
    record: RecordedRequest,
    signal: AbortSignal,
    fault: Fault,
  ): Promise<Response> {
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw new SyntaxError("expected a JSON object");
      }
      body = parsed as Record<string, unknown>;
    } catch {
      return this.#malformed(text);
    }
    const asked = typeof body.model === "string" ? body.model : undefined;
    if (asked === undefined && (this.kind === "ollama" || this.kind === "openai")) {
      return this.kind === "openai"
        ? this.#error(400, "you must provide a model parameter", "invalid_request_error", null)
        : this.#error(400, "model is required", "invalid_request_error", null);
    }
    const served = this.#resolveModel(asked ?? "");
    if (served === undefined) return this.#unknownModel(asked ?? "");

    if (!this.#loaded.has(served)) {
      if (this.#firstLoadMs > 0 && !await this.#wait(this.#firstLoadMs, record, signal)) {
        return new Response(null, { status: 503 });
      }
      this.#loaded.add(served);
    }

    const model = asked ?? served;
    if (route === "POST /v1/embeddings") return json(this.#embeddings(body, model));
    const chat = route === "POST /v1/chat/completions";
    if (body.stream === true) {
      const options = body.stream_options as { include_usage?: unknown } | undefined;
      const events = chat
        ? this.#chatEvents(model, options?.include_usage === true)
        : this.#completionEvents(model, options?.include_usage === true);
      return this.#stream(events, record, signal, fault);
    }
    const answer = chat ? this.#chatCompletion(model) : this.#textCompletion(model);
    if (fault.type === "drip" || fault.type === "gzip") {
      const bytes = encoder.encode(JSON.stringify(answer));
      const pieces = fault.type === "drip" ? [...bytes].map((b) => Uint8Array.of(b)) : [bytes];
      return this.#pieces((i) => pieces[i], record, signal, {
        contentType: "application/json",
        delayMs: fault.type === "drip" ? fault.intervalMs : 0,
        gzip: fault.type === "gzip",
      });
    }
    return json(answer);
  }

  // --- models ---

  #resolveModel(asked: string): string | undefined {
    switch (this.kind) {
      case "ollama": {
        const wanted = ollamaName(asked);
        return this.#models.find((m) => ollamaName(m) === wanted);
      }
      case "llamacpp":
      case "lmstudio":
        // Both serve their single loaded model whatever name is asked.
        if (this.#models.length === 1) return this.#models[0];
        return this.#models.find((m) => m === asked);
      default:
        return this.#models.find((m) => m === asked);
    }
  }

  #modelCard(id: string): Record<string, unknown> {
    const card: Record<string, unknown> = {
      id,
      object: "model",
      created: CREATED,
      owned_by: OWNED_BY[this.kind],
    };
    if (this.kind === "vllm") {
      Object.assign(card, {
        root: id,
        parent: null,
        max_model_len: 8192,
        permission: [{
          id: `modelperm-${id.length}0f1e2d3c`,
          object: "model_permission",
          created: CREATED,
          allow_create_engine: false,
          allow_sampling: true,
          allow_logprobs: true,
          allow_search_indices: false,
          allow_view: true,
          allow_fine_tuning: false,
          organization: "*",
          group: null,
          is_blocking: false,
        }],
      });
    }
    if (this.kind === "llamacpp") {
      card.meta = {
        vocab_type: 2,
        n_vocab: 128256,
        n_ctx_train: 131072,
        n_embd: 4096,
        n_params: 8030261248,
        size: 4912898304,
      };
    }
    if (this.kind === "lmstudio") delete card.created;
    return card;
  }

  #modelList(): Record<string, unknown> {
    const list: Record<string, unknown> = {
      object: "list",
      data: this.#models.map((m) => this.#modelCard(m)),
    };
    if (this.kind === "llamacpp") {
      // llama-server also answers in Ollama's shape under `models`.
      list.models = this.#models.map((m) => ({ name: m, model: m, type: "model" }));
    }
    return list;
  }

  // --- answers ---

  #id(prefix: string): string {
    this.#ids += 1;
    return `${prefix}-${this.kind}${this.#ids.toString(16).padStart(6, "0")}`;
  }

  #usage(): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
    const completion = this.#content.length;
    return { prompt_tokens: 12, completion_tokens: completion, total_tokens: 12 + completion };
  }

  #envelope(object: string, model: string): Record<string, unknown> {
    const head: Record<string, unknown> = {
      id: this.#id(object === "text_completion" ? "cmpl" : "chatcmpl"),
      object,
      created: Math.floor(Date.now() / 1000),
      model,
    };
    const fingerprint = FINGERPRINT[this.kind];
    if (fingerprint !== undefined) head.system_fingerprint = fingerprint;
    return head;
  }

  #chatCompletion(model: string): Record<string, unknown> {
    const calls = this.#toolCalls;
    const message = calls === undefined ? { role: "assistant", content: this.#content.join("") } : {
      role: "assistant",
      // Ollama sends an empty string beside tool calls; the others null.
      content: this.kind === "ollama" ? "" : null,
      tool_calls: calls.map((call, i) => ({
        id: this.#callId(i),
        type: "function",
        function: { name: call.name, arguments: JSON.stringify(call.arguments) },
      })),
    };
    return {
      ...this.#envelope("chat.completion", model),
      choices: [{
        index: 0,
        message,
        logprobs: null,
        finish_reason: calls === undefined ? "stop" : "tool_calls",
      }],
      usage: this.#usage(),
    };
  }

  #callId(index: number): string {
    return `call_${this.kind}_${index}`;
  }

  /** The deltas of the tool calls: each call named once, then its arguments in pieces. */
  #toolCallDeltas(calls: FakeToolCall[]): Record<string, unknown>[] {
    return calls.flatMap((call, index) => {
      const args = JSON.stringify(call.arguments);
      const size = Math.ceil(args.length / ARGUMENT_CHUNKS);
      const pieces: string[] = [];
      for (let i = 0; i < args.length; i += size) pieces.push(args.slice(i, i + size));
      return [
        {
          tool_calls: [{
            index,
            id: this.#callId(index),
            type: "function",
            function: { name: call.name, arguments: "" },
          }],
        },
        ...pieces.map((arguments_) => ({
          tool_calls: [{ index, function: { arguments: arguments_ } }],
        })),
      ];
    });
  }

  #textCompletion(model: string): Record<string, unknown> {
    return {
      ...this.#envelope("text_completion", model),
      choices: [{ text: this.#content.join(""), index: 0, logprobs: null, finish_reason: "stop" }],
      usage: this.#usage(),
    };
  }

  #chatEvents(model: string, includeUsage: boolean): string[] {
    const head = this.#envelope("chat.completion.chunk", model);
    const withUsage = (chunk: Record<string, unknown>) =>
      includeUsage && this.kind === "openai" ? { ...chunk, usage: null } : chunk;
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      withUsage({ ...head, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
    // Ollama repeats the role in every delta; the others send it once, first.
    const role = this.kind === "ollama" ? { role: "assistant" } : {};
    const calls = this.#toolCalls;
    const body = calls === undefined
      ? this.#content.map((piece) => chunk({ ...role, content: piece }, null))
      : this.#toolCallDeltas(calls).map((delta) => chunk({ ...role, ...delta }, null));
    const events = [
      chunk({ role: "assistant", content: "" }, null),
      ...body,
      chunk(
        this.kind === "ollama" ? { role: "assistant", content: "" } : {},
        calls === undefined ? "stop" : "tool_calls",
      ),
    ];
    if (includeUsage) events.push({ ...head, choices: [], usage: this.#usage() });
    return [...events.map((e) => `data: ${JSON.stringify(e)}\n\n`), "data: [DONE]\n\n"];
  }

  #completionEvents(model: string, includeUsage: boolean): string[] {
    const head = this.#envelope("text_completion", model);
    const chunk = (text: string, finish: string | null) => ({
      ...head,
      choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
    });
    const events: Record<string, unknown>[] = [
      ...this.#content.map((piece) => chunk(piece, null)),
      chunk("", "stop"),
    ];
    if (includeUsage) events.push({ ...head, choices: [], usage: this.#usage() });
    return [...events.map((e) => `data: ${JSON.stringify(e)}\n\n`), "data: [DONE]\n\n"];
  }

  #embeddings(body: Record<string, unknown>, model: string): Record<string, unknown> {
    const inputs = Array.isArray(body.input) ? body.input : [body.input];
    const base64 = body.encoding_format === "base64";
    const data = inputs.map((input, index) => {
      const vector = embed(typeof input === "string" ? input : JSON.stringify(input));
      return {
        object: "embedding",
        index,
        embedding: base64 ? float32Base64(vector) : Array.from(vector),
      };
    });
    const tokens = inputs.length * 4;
    return {
      object: "list",
      data,
      model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    };
  }

  #stream(
    events: string[],
    record: RecordedRequest,
    signal: AbortSignal,
    fault: Fault,
  ): Response {
    let piece: (i: number) => Uint8Array | undefined = (i) =>
      i < events.length ? encoder.encode(events[i]) : undefined;
    if (fault.type === "drip") {
      const bytes = encoder.encode(events.join(""));
      piece = (i) => i < bytes.length ? bytes.subarray(i, i + 1) : undefined;
    } else if (fault.type === "flood") {
      const filler = "x".repeat(Math.max(0, (fault.eventBytes ?? 1024) - 120));
      const head = this.#envelope("chat.completion.chunk", "flood");
      piece = (i) =>
        encoder.encode(
          `data: ${
            JSON.stringify({
              ...head,
              choices: [{ index: 0, delta: { content: `${i}${filler}` } }],
            })
          }\n\n`,
        );
    }
    return this.#pieces(piece, record, signal, {
      contentType: this.kind === "ollama"
        ? "text/event-stream"
        : "text/event-stream; charset=utf-8",
      delayMs: fault.type === "drip" ? fault.intervalMs : this.#chunkDelayMs,
      dieAt: fault.type === "die_after" ? fault.chunks : undefined,
      stallAt: fault.type === "stall_after" ? fault.chunks : undefined,
      gzip: fault.type === "gzip",
    });
  }

  /**
   * A body of pieces handed over one per pull (highWaterMark 0: only as fast as the connection
   * drains), `delayMs` apart, recording what was sent; it may break off (`dieAt`) or fall silent
   * (`stallAt`) after that many pieces.
   */
  #pieces(
    piece: (i: number) => Uint8Array | undefined,
    record: RecordedRequest,
    signal: AbortSignal,
    o: {
      contentType: string;
      delayMs?: number;
      dieAt?: number;
      stallAt?: number;
      gzip?: boolean;
    },
  ): Response {
    const delayMs = o.delayMs ?? 0;
    const cancelled = new AbortController();
    const gone = AbortSignal.any([signal, cancelled.signal]);
    const onGone = () => this.#markAborted(record);
    gone.addEventListener("abort", onGone, { once: true });
    const done = () => gone.removeEventListener("abort", onGone);
    record.sentBytes = 0;
    record.sentAt = [];
    let sent = 0;
    let body: ReadableStream<Uint8Array> = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (sent === o.stallAt) {
          await this.#wait(Infinity, record, gone);
          done();
          // Only reached when the fake closes (or the client left): end it as a broken stream.
          controller.error(new Error("fake upstream stalled"));
          return;
        }
        if (sent === o.dieAt) {
          done();
          controller.error(new Error("fake upstream died mid-stream"));
          return;
        }
        if (sent > 0 && delayMs > 0 && !await this.#wait(delayMs, record, gone)) {
          done();
          controller.error(new Error("stream abandoned"));
          return;
        }
        const next = piece(sent);
        if (next === undefined) {
          done();
          controller.close();
          return;
        }
        try {
          controller.enqueue(next);
          sent += 1;
          record.sentBytes! += next.length;
          record.sentAt!.push(performance.now());
        } catch {
          this.#markAborted(record);
          done();
        }
      },
      cancel: () => {
        this.#markAborted(record);
        cancelled.abort();
      },
    }, { highWaterMark: 0 });
    const headers: Record<string, string> = { "content-type": o.contentType };
    if (o.contentType.startsWith("text/event-stream")) headers["cache-control"] = "no-cache";
    if (o.gzip) {
      body = body.pipeThrough(
        new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
      );
      headers["content-encoding"] = "gzip";
    }
    if (this.kind === "openai") headers["x-request-id"] = `req_${this.#id("sse")}`;
    return new Response(body, { status: 200, headers });
  }

  // --- errors ---

  #error(
    status: number,
    message: string,
    type: string,
    code: string | number | null,
    param: string | null = null,
  ): Response {
    switch (this.kind) {
      case "llamacpp":
        return json({ error: { code: status, message, type } }, status);
      case "vllm":
        return json({ error: { message, type, param, code: status } }, status);
      case "ollama":
        return json({ error: { message, type, param: null, code: null } }, status, GO_JSON);
      default:
        return json({ error: { message, type, param, code } }, status, this.#openaiHeaders());
    }
  }

  #openaiHeaders(): Record<string, string> {
    return this.kind === "openai" ? { "x-request-id": `req_${this.#id("err")}` } : {};
  }

  #unknownModel(model: string): Response {
    switch (this.kind) {
      case "ollama":
        return this.#error(404, `model '${model}' not found`, "not_found_error", null);
      case "vllm":
        return this.#error(404, `The model \`${model}\` does not exist.`, "NotFoundError", 404);
      case "lmstudio":
        return this.#error(
          400,
          `Invalid model identifier "${model}". Please specify a valid downloaded model (e.g., ${
            this.#models.join(", ")
          }).`,
          "invalid_request_error",
          "model_not_found",
          "model",
        );
      case "llamacpp":
        return this.#error(404, "model not found", "not_found_error", 404);
      case "openai":
        return this.#error(
          404,
          `The model \`${model}\` does not exist or you do not have access to it.`,
          "invalid_request_error",
          "model_not_found",
        );
    }
  }

  #malformed(text: string): Response {
    switch (this.kind) {
      case "ollama":
        return this.#error(400, goJsonError(text), "invalid_request_error", null);
      case "vllm":
        return this.#error(400, "JSON decode error", "BadRequestError", 400);
      case "llamacpp":
        return this.#error(400, "Invalid JSON in request body", "invalid_request_error", 400);
      case "lmstudio":
        return this.#error(400, "Unexpected token in JSON body", "invalid_request_error", null);
      case "openai":
        return this.#error(
          400,
          "We could not parse the JSON body of your request. (HINT: This likely means you aren't " +
            "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what " +
            "was sent was not valid JSON.)",
          "invalid_request_error",
          null,
        );
    }
  }

  #notFoundPath(method: string, path: string): Response {
    switch (this.kind) {
      case "ollama":
        return new Response("404 page not found", {
          status: 404,
          headers: { "content-type": "text/plain" },
        });
      case "vllm":
        return json({ detail: "Not Found" }, 404);
      case "llamacpp":
        return this.#error(404, "File Not Found", "not_found_error", 404);
      case "lmstudio":
        return json({ error: `Unexpected endpoint or method. (${method} ${path})` }, 404);
      case "openai":
        return this.#error(404, `Invalid URL (${method} ${path})`, "invalid_request_error", null);
    }
  }

  #needsKey(path: string): boolean {
    if (this.#apiKey === undefined) return false;
    return this.kind === "openai" || path.startsWith("/v1/");
  }

  #authorized(headers: Headers): boolean {
    return headers.get("authorization") === `Bearer ${this.#apiKey}`;
  }

  #unauthorized(headers: Headers): Response {
    switch (this.kind) {
      case "vllm":
        return json({ error: "Unauthorized" }, 401);
      case "llamacpp":
        return this.#error(401, "Invalid API Key", "authentication_error", 401);
      default: {
        const given = headers.get("authorization");
        if (given === null || !given.startsWith("Bearer ")) {
          return this.#error(
            401,
            "You didn't provide an API key. You need to provide your API key in an " +
              "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
            null,
          );
        }
        const key = given.slice("Bearer ".length);
        return this.#error(
          401,
          `Incorrect API key provided: ${redact(key)}. You can find your API key at ` +
            "https://platform.openai.com/account/api-keys.",
          "invalid_request_error",
          "invalid_api_key",
        );
      }
    }
  }

  #statusFault(fault: Extract<Fault, { type: "status" }>): Response {
    const headers = new Headers(fault.headers);
    let body = fault.body;
    if (body === undefined) {
      return withHeaders(
        this.#error(fault.status, faultMessage(fault.status), faultType(fault.status), null),
        headers,
      );
    }
    if (!headers.has("content-type")) {
      headers.set(
        "content-type",
        body.trimStart().startsWith("<") ? "text/html; charset=utf-8" : "application/json",
      );
    }
    if (fault.status === 204 || fault.status === 304) body = undefined;
    return new Response(body, { status: fault.status, headers });
  }
}

// --- helpers ---

/** Copies bytes from one connection to the other until either ends. */
async function pump(from: Deno.TcpConn, to: Deno.TcpConn): Promise<void> {
  const buffer = new Uint8Array(16 * 1024);
  try {
    while (true) {
      const n = await from.read(buffer);
      if (n === null) return;
      let written = 0;
      while (written < n) written += await to.write(buffer.subarray(written, n));
    }
  } catch {
    // reset or closed: the relay ends either way
  }
}

const GO_JSON = { "content-type": "application/json; charset=utf-8" };

function json(value: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function withHeaders(response: Response, extra: Headers): Response {
  for (const [name, value] of extra) response.headers.set(name, value);
  return response;
}

function parseBody(text: string): unknown {
  if (text === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Ollama's name for a model: a bare name means the `latest` tag. */
function ollamaName(name: string): string {
  const base = name.slice(name.lastIndexOf("/") + 1);
  return (base.includes(":") ? name : `${name}:latest`).toLowerCase();
}

function ollamaModel(name: string): Record<string, unknown> {
  return {
    name,
    model: name,
    modified_at: "2024-07-23T10:16:41.520392+00:00",
    size: 4920753328,
    digest: "46e0c10c039e019119339687c3c1757cc81b9da49709a3b3924863ba87ca666e",
    details: {
      parent_model: "",
      format: "gguf",
      family: "llama",
      families: ["llama"],
      parameter_size: "8.0B",
      quantization_level: "Q4_K_M",
    },
  };
}

/** Go's encoding/json message for a body that is not JSON. */
function goJsonError(text: string): string {
  const first = text.trimStart()[0];
  if (first === undefined) return "unexpected end of JSON input";
  if (!`{["-0123456789tfn`.includes(first)) {
    return `invalid character '${first}' looking for beginning of value`;
  }
  return "unexpected end of JSON input";
}

function faultMessage(status: number): string {
  if (status === 429) return "Rate limit reached for requests. Please try again in 1s.";
  if (status === 503) return "The server is overloaded or not ready yet.";
  if (status >= 500) return "The server had an error while processing your request.";
  return `fault injected: ${status}`;
}

function faultType(status: number): string {
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

function redact(key: string): string {
  return key.length <= 8 ? "*".repeat(key.length) : `${key.slice(0, 3)}*****${key.slice(-4)}`;
}

/** A small deterministic unit-ish vector for a text. */
function embed(text: string): Float32Array {
  const vector = new Float32Array(EMBEDDING_DIMENSIONS);
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 16777619) >>> 0;
  }
  for (let i = 0; i < vector.length; i++) {
    hash = Math.imul(hash ^ (i + 1), 16777619) >>> 0;
    vector[i] = (hash % 2000) / 1000 - 1;
  }
  return vector;
}

function float32Base64(vector: Float32Array): string {
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  vector.forEach((value, i) => view.setFloat32(i * 4, value, true));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** What a prompt cache keys on: the system prompt and the first user message of a chat request. */
function openingOf(body: unknown): string {
  const messages = (body as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(messages)) return "";
  const opening: unknown[] = [];
  for (const m of messages) {
    opening.push(m);
    if ((m as { role?: unknown } | null)?.role !== "system") break;
  }
  return JSON.stringify(opening);
}
