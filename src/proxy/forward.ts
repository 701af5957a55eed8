import { type Protocol, upstreamPath } from "../config/protocol.ts";
import type { Logger, RequestRecord } from "../observe/log.ts";
import type { Candidate, Resolution, Skipped } from "../routing/resolve.ts";
import { clientHeaders, headerSafe, upstreamHeaders } from "./headers.ts";
import { errorResponse, type ErrorStyle } from "./envelope.ts";
import {
  aggregateFailure,
  type Attempt,
  describeFetchError,
  formatAttempt,
  isRetryable,
  readableErrorText,
} from "./failover.ts";
import { type BodyOutcome, guardSse, TimeLimitError } from "./guard_stream.ts";
import type { Deadlines } from "./deadlines.ts";
import { replaceModel } from "./body.ts";
import { type HealthBook, retryAfterSecs } from "../routing/health.ts";
import { SseTranslator } from "./sse_translate.ts";
import { SsePassthrough } from "./sse_passthrough.ts";
import { usageFromBytes, usageReader } from "../protocols/usage.ts";
import type { Usage } from "../observe/usage.ts";
import { type ClientProtocol, translationFor } from "../protocols/registry.ts";
import { contentTypeOf, type Framing } from "./framing.ts";
import {
  type Translation,
  type TranslationContext,
  TranslationError,
} from "../protocols/translation.ts";
import { type ClientWatch, watchClient } from "./client_watch.ts";
import { nestsDeeperThan, tooDeepMessage } from "./json_depth.ts";
import { type Drain, SHUTDOWN_MESSAGE, ShutdownError } from "./drain.ts";
import {
  type CapacityBook,
  estimateTokens,
  type Grant,
  type Lease,
  MAX_QUEUED,
  QueueFullError,
} from "../routing/capacity.ts";
import { type AffinityTable, conversationKey, endpointKey } from "../routing/affinity.ts";
import { isLimited } from "../config/types.ts";
import { isLoaded } from "../routing/route_table.ts";
import type { UpstreamLimits } from "../config/types.ts";
import { ERROR_BODY_BYTES, type LimitedBody, mebibytes, readUpTo } from "./upstream_body.ts";
import { providerSecrets, redactSecrets } from "./redact.ts";

/** One BitRouter endpoint that forwards: the client's protocol and its error envelope. */
export interface Endpoint {
  protocol: ClientProtocol;
  style: ErrorStyle;
  /** How a translated stream is written for the client (Ollama: NDJSON); default SSE. */
  framing?: Framing;
  /**
   * The upstream path for endpoints served only by upstreams of the same protocol, without
   * translation (`/embeddings`, `/completions`); absent, the path is the candidate protocol's.
   */
  path?: string;
  /**
   * With `path`: how a candidate of another upstream protocol that has its own form of this
   * request is called, untranslated — the path and body for its model (a Gemini upstream's
   * `models/{model}:embedContent`). Candidates of other protocols are passed over.
   */
  direct?: Partial<Record<Protocol, (model: string) => { path: string; body: string }>>;
}

/** How one candidate is called: the path, the body, and the translation when protocols differ. */
interface Plan {
  path: string;
  body: string | Uint8Array<ArrayBuffer>;
  /** Only when the protocols differ; one context per attempt, shared by its request and answer. */
  translated?: { translation: Translation; ctx: TranslationContext };
}

/**
 * Choose: how to call a candidate, or the Attempt (never sent) saying why it cannot take this
 * request — it speaks a protocol the client's cannot be translated to, or the request cannot be
 * expressed in it.
 */
function planFor(fr: ForwardRequest, candidate: Candidate, now: () => number): Plan | Attempt {
  const { endpoint } = fr;
  const { protocol } = candidate;
  let path: string | undefined;
  let translated: Plan["translated"];
  // Gemini's path names the model and whether to stream.
  const stream = fr.body.stream === true;
  const direct = endpoint.path ? endpoint.direct?.[protocol] : undefined;
  if (direct) return direct(candidate.model);
  if (protocol === endpoint.protocol) {
    path = endpoint.path ?? upstreamPath(protocol, candidate.model, stream);
  } else {
    path = upstreamPath(protocol, candidate.model, stream);
    const translation = endpoint.path ? undefined : translationFor(endpoint.protocol, protocol);
    if (!translation) {
      return {
        provider: candidate.provider.id,
        kind: "unsupported",
        detail: `speaks ${protocol}, and BitRouter cannot translate ${endpoint.protocol} to it`,
      };
    }
    translated = { translation, ctx: contextFor(fr, candidate, now) };
  }
  const body = bodyFor(fr, candidate, translated);
  if (body instanceof TranslationError) {
    return {
      provider: candidate.provider.id,
      kind: "unsupported",
      status: 400,
      detail: body.message,
    };
  }
  return { path, body, translated };
}

/** Everything one forwarded request needs. */
export interface ForwardRequest {
  request: Request;
  requestId: string;
  /** Which client key (see proxy/auth.ts keyLabel), for the request's record; absent without auth. */
  keyLabel?: string;
  endpoint: Endpoint;
  /** The client's body as sent, as text, and its parsed form. */
  bytes: Uint8Array<ArrayBuffer>;
  text: string;
  body: Record<string, unknown>;
  resolution: Resolution;
  startedAt: number;
  /** How much of an upstream's answer may be held (`upstream.max_response_mb`, `max_event_mb`). */
  limits: UpstreamLimits;
  /** Whether the body nests past MAX_JSON_DEPTH; found out once, when a candidate needs to know. */
  tooDeep?: boolean;
  /** What the request counts against `tokens_per_minute`; estimated once, when a window needs it. */
  tokens?: number;
  /** Told each Responses object a translation makes for this request (responses/store.ts). */
  onResponse?: (response: Record<string, unknown>) => void;
  /** Milliseconds the request waited for a free slot, once it has (SPEC §3.5). */
  queuedMs?: number;
}

/** The runtime's pieces, injectable for tests (STYLE: `{ fetch, now, log }`). */
export interface ForwardDeps {
  fetch: typeof fetch;
  now: () => number;
  log: Logger;
  /** The shared timer for every request's time limits. */
  deadlines: Deadlines;
  /** Which endpoints are cooling down; told what each call showed. */
  health: HealthBook;
  /** Tracks upstream requests so a shutdown can end them (graceful drain); absent in tests. */
  drain?: Drain;
  /** Slots, rate windows and the wait queue (SPEC §3.5); absent: nothing is limited. */
  capacity?: CapacityBook;
  /** Which endpoint served each conversation's last turn, for balance (SPEC §3.5). */
  affinity?: AffinityTable;
}

/**
 * The request log line's fields every ending shares (SPEC §8): who asked for what, how many
 * candidates were tried, the status the client got, the time taken and queued.
 */
function requestRecord(
  fr: ForwardRequest,
  deps: ForwardDeps,
  attempts: number,
  status: number,
): RequestRecord {
  return {
    requestId: fr.requestId,
    keyLabel: fr.keyLabel,
    protocol: fr.endpoint.protocol,
    model: fr.resolution.model,
    streamed: fr.body.stream === true,
    attempts,
    status,
    totalMs: Math.round(deps.now() - fr.startedAt),
    queuedMs: fr.queuedMs,
  };
}

/** The abort reason when the client left. */
class ClientGoneError extends DOMException {
  constructor() {
    super("client disconnected", "AbortError");
  }
}

/** The request is over because the client left; nothing will read this response. */
const CLIENT_GONE_STATUS = 499;

/** How an attempt ended without an answer to relay or a failure to fail over from. */
type Ended = "client_gone" | "shutdown";

/**
 * Tries each candidate in order (SPEC §5) and relays the first usable answer. Choose the order;
 * for each candidate plan the call and acquire a slot (a busy one is passed over at once, SPEC
 * §3.5); send, judge the headers, relay. When every other candidate failed, wait for a busy one's
 * slot, up to `queue_secs`.
 */
export async function forwardWithFailover(
  fr: ForwardRequest,
  deps: ForwardDeps,
): Promise<Response> {
  const attempts: Attempt[] = [];
  let tried = 0;
  const { capacity } = deps;
  const balance = fr.resolution.balance === true;
  const conversation = balance && deps.affinity ? conversationOf(fr) : undefined;
  /** Candidates at capacity, to wait for once every other has been tried (SPEC §3.5). */
  let busy: Busy[] | undefined;
  for (const candidate of chosenOrder(fr, deps, conversation)) {
    const plan = planFor(fr, candidate, deps.now);
    if (!("path" in plan)) {
      attempts.push(plan);
      continue;
    }
    // Acquire: a slot, when anything limits this endpoint or its load is balanced; busy moves
    // on to the next candidate at once, and is no failure for health.
    let lease: Lease | undefined;
    if (capacity && (balance || takesSlot(candidate.provider))) {
      lease = capacity.tryAcquire(candidate, tokensOf(fr));
      if (!lease) {
        (busy ??= []).push({ candidate, plan });
        continue;
      }
    }
    tried++;
    const result = await tryCandidate(fr, candidate, plan, tried, deps, lease);
    const done = settled(fr, candidate, result, tried, attempts, conversation, deps);
    if (done) return done;
  }
  // Every candidate not busy has failed or could not be used: wait for a busy one's slot.
  while (busy?.length) {
    const granted = await queuedSlot(fr, busy, deps);
    if (granted === "shutdown") return shuttingDown(fr, deps, tried);
    if (granted === "client_gone") return clientGone(fr, deps, tried);
    if (granted === "timeout" || granted === "full") {
      return overloaded(fr, busy, attempts, tried, deps, granted === "full");
    }
    const at = busy.findIndex((b) => b.candidate === granted.candidate);
    const { candidate, plan } = busy.splice(at, 1)[0];
    tried++;
    const result = await tryCandidate(fr, candidate, plan, tried, deps, granted.lease);
    const done = settled(fr, candidate, result, tried, attempts, conversation, deps);
    if (done) return done;
  }
  return allFailed(fr, attempts, tried, deps);
}

/**
 * What one attempt's result means for the request: the Response to return (the answer, a
 * shutdown's 503, the client gone), or undefined once the failure is noted, to fail over from.
 */
function settled(
  fr: ForwardRequest,
  candidate: Candidate,
  result: Response | Attempt | Ended,
  tried: number,
  attempts: Attempt[],
  conversation: string | undefined,
  deps: ForwardDeps,
): Response | undefined {
  if (result instanceof Response) {
    // The next turn of this conversation goes back here while there is room (affinity).
    if (conversation) {
      deps.affinity!.set(conversation, endpointKey(candidate.provider.id, candidate.model));
    }
    return result;
  }
  if (result === "shutdown") return shuttingDown(fr, deps, tried);
  if (result === "client_gone") return clientGone(fr, deps, tried);
  attempts.push(result);
  reportFailure(deps, candidate, result.detail, result.retryAfter);
  deps.log.debug("candidate failed", { id: fr.requestId, attempt: formatAttempt(result) });
  return undefined;
}

/**
 * The answer when every candidate failed (SPEC §5): the most telling status, and a message
 * listing each attempt and the endpoints left out.
 */
function allFailed(
  fr: ForwardRequest,
  attempts: Attempt[],
  tried: number,
  deps: ForwardDeps,
): Response {
  const failure = aggregateFailure(attempts);
  const headers: Record<string, string> = {
    "x-request-id": fr.requestId,
    "x-bitrouter-attempts": String(tried),
  };
  if (failure.retryAfter) headers["retry-after"] = failure.retryAfter;
  const message = `${
    fr.resolution.candidates.length === 1
      ? "the only candidate"
      : `all ${fr.resolution.candidates.length} candidates`
  } for "${fr.resolution.model}" failed: ${attempts.map(formatAttempt).join("; ")}${
    notTried(fr.resolution.skipped)
  }`;
  deps.log.request({ ...requestRecord(fr, deps, tried, failure.status), error: message });
  return errorResponse(fr.endpoint.style, {
    status: failure.status,
    message,
    type: failure.type,
    code: failure.code,
  }, headers);
}

/** The answer to a request whose client left: nobody reads it, the log line says so. */
function clientGone(fr: ForwardRequest, deps: ForwardDeps, tried: number): Response {
  deps.log.request({
    ...requestRecord(fr, deps, tried, CLIENT_GONE_STATUS),
    outcome: "client_gone",
  });
  return new Response(null, { status: CLIENT_GONE_STATUS });
}

/** A candidate that was busy when its turn came, with its plan, to wait for. */
interface Busy {
  candidate: Candidate;
  plan: Plan;
}

/** Choose: the candidates in the order to try them (see `orderToTry`). */
function chosenOrder(
  fr: ForwardRequest,
  deps: ForwardDeps,
  conversation: string | undefined,
): Candidate[] {
  return orderToTry(
    deps.health.order(fr.resolution.candidates),
    fr.resolution.balance === true,
    deps.capacity,
    tokensOf,
    fr,
    conversation ? deps.affinity!.get(conversation) : undefined,
  );
}

/**
 * The order to try candidates already put healthy before cooling (HealthBook.order): under
 * balance, least loaded first (ties: the model already loaded, then the least recently used, so
 * one-at-a-time requests alternate, then declared order), with `last` — the endpoint that served
 * this conversation's last turn — in front while it has a free slot; a provider's accounts under
 * `account_strategy: balance` least loaded first among themselves. `tokens(source)` is asked only
 * when loads are compared (it may walk the request's body); the request path and the dashboard
 * share this, so the dashboard shows the order a request would take.
 */
export function orderToTry<S>(
  ordered: Candidate[],
  balance: boolean,
  capacity: CapacityBook | undefined,
  tokens: (source: S) => number,
  source: S,
  last?: string,
): Candidate[] {
  if (!capacity || ordered.length < 2) return ordered;
  if (balance) {
    const needed = tokens(source);
    const ranked = ordered.map((c, i) => ({
      c,
      i,
      load: capacity.load(c, needed),
      last: capacity.lastUsed(c),
    }));
    ranked.sort((a, b) =>
      a.load - b.load ||
      Number(isLoaded(b.c.provider, b.c.model)) - Number(isLoaded(a.c.provider, a.c.model)) ||
      a.last - b.last || a.i - b.i
    );
    const out = ranked.map((r) => r.c);
    if (last !== undefined) {
      const at = ranked.findIndex((r) => endpointKey(r.c.provider.id, r.c.model) === last);
      if (at > 0 && ranked[at].load !== Infinity) out.unshift(...out.splice(at, 1));
    }
    return out;
  }
  // A plain loop, no closure: this runs for every request with two candidates or more.
  for (const c of ordered) {
    if (c.provider.account !== undefined && c.provider.accountStrategy === "balance") {
      return balancedAccounts(ordered, capacity, tokens(source));
    }
  }
  return ordered;
}

/** Each run of one provider's accounts under `account_strategy: balance`, least loaded first. */
function balancedAccounts(
  ordered: Candidate[],
  capacity: CapacityBook,
  tokens: number,
): Candidate[] {
  const out = [...ordered];
  for (let i = 0; i < out.length;) {
    const base = out[i].provider;
    let j = i + 1;
    const group = (c: Candidate) =>
      c.provider.account !== undefined && base.account !== undefined &&
      c.provider.id.slice(0, c.provider.id.lastIndexOf("#")) ===
        base.id.slice(0, base.id.lastIndexOf("#")) &&
      c.model === out[i].model;
    while (j < out.length && group(out[j])) j++;
    if (j - i > 1 && base.accountStrategy === "balance") {
      const run = out.slice(i, j).map((c, k) => ({
        c,
        k,
        load: capacity.load(c, tokens),
        last: capacity.lastUsed(c),
      }));
      run.sort((a, b) => a.load - b.load || a.last - b.last || a.k - b.k);
      out.splice(i, j - i, ...run.map((r) => r.c));
    }
    i = j;
  }
  return out;
}

/**
 * Whether a request to this endpoint takes a slot: it has limits, or it is one of a provider's
 * accounts balanced by load. Everything else costs capacity nothing (SPEC §9).
 */
function takesSlot(p: Candidate["provider"]): boolean {
  return isLimited(p) || (p.account !== undefined && p.accountStrategy === "balance");
}

/** What the request counts against `tokens_per_minute`, worked out once per request. */
function tokensOf(fr: ForwardRequest): number {
  return fr.tokens ??= estimateTokens(fr.bytes.length, fr.body);
}

/** The conversation key of a balanced request (SPEC §3.5 prompt-cache affinity). */
function conversationOf(fr: ForwardRequest): string | undefined {
  return conversationKey(fr.resolution.model, fr.body, fr.request.headers.get(SESSION_HEADER));
}

/** The header a client may send to keep a conversation on one server under balance. */
export const SESSION_HEADER = "x-bitrouter-session";

/** How long a request may wait for one of these busy candidates: the longest `queue_secs`. */
function longestQueueSecs(busy: Busy[]): number {
  return Math.max(...busy.map((b) => b.candidate.provider.timeouts.queueSecs));
}

/** Why the queue wait ended without a slot: `queue_secs` ran out. */
class QueueTimeout extends Error {}

/**
 * Waits, first come first served, for a slot at any busy candidate, up to the longest of their
 * `queue_secs`: the slot, or why there is none — the time ran out, the client left, a shutdown.
 * The wait counts in the drain like a request in flight, and ends at once when the client leaves.
 */
async function queuedSlot(
  fr: ForwardRequest,
  busy: Busy[],
  deps: ForwardDeps,
): Promise<Grant<Candidate> | "timeout" | "full" | Ended> {
  const capacity = deps.capacity!;
  const queueSecs = longestQueueSecs(busy);
  const waitStart = deps.now();
  const waitedBefore = fr.queuedMs ?? 0;
  const remainingMs = queueSecs * 1000 - waitedBefore;
  if (remainingMs <= 0) return "timeout";
  const waiting = new AbortController();
  const client = watchClient(
    fr.request,
    fr.startedAt,
    deps,
    () => waiting.abort(new ClientGoneError()),
  );
  deps.drain?.track(waiting);
  const deadline = deps.deadlines.add(
    waitStart + remainingMs,
    () => waiting.abort(new QueueTimeout()),
  );
  try {
    return await capacity.wait(
      busy.map((b) => b.candidate),
      tokensOf(fr),
      waiting.signal,
    );
  } catch (e) {
    if (client.gone() || e instanceof ClientGoneError) return "client_gone";
    if (e instanceof ShutdownError) return "shutdown";
    return e instanceof QueueFullError ? "full" : "timeout";
  } finally {
    fr.queuedMs = waitedBefore + Math.round(deps.now() - waitStart);
    deps.deadlines.cancel(deadline);
    client.release();
    deps.drain?.untrack(waiting);
  }
}

/**
 * The answer when every candidate stayed busy for `queue_secs` (SPEC §3.5): 503 `overloaded` in
 * the client's envelope (Anthropic's `overloaded_error`), with Retry-After and a message naming
 * the busy endpoints, what failed, and the setting.
 */
function overloaded(
  fr: ForwardRequest,
  busy: Busy[],
  attempts: Attempt[],
  tried: number,
  deps: ForwardDeps,
  queueFull = false,
): Response {
  const capacity = deps.capacity!;
  const queueSecs = longestQueueSecs(busy);
  const reasons = busy.map((b) => {
    const r = capacity.busyReason(b.candidate);
    return `${r.provider} (${r.reason})`;
  });
  const message = `every candidate for "${fr.resolution.model}" is at capacity: ${
    reasons.join(", ")
  }; ${
    queueFull
      ? `the queue is full (${MAX_QUEUED} requests waiting)`
      : `waited ${queueSecs}s (upstream.timeouts.queue_secs)`
  }${
    attempts.length ? `; failed: ${attempts.map(formatAttempt).join("; ")}` : ""
  } — retry later, or raise max_concurrent / queue_secs`;
  deps.log.request({ ...requestRecord(fr, deps, tried, 503), error: message });
  const headers: Record<string, string> = {
    "x-request-id": fr.requestId,
    "x-bitrouter-attempts": String(tried),
    "retry-after": String(Math.max(1, Math.min(queueSecs, 30))),
  };
  if (fr.queuedMs !== undefined) headers["x-bitrouter-queued-ms"] = String(fr.queuedMs);
  return errorResponse(fr.endpoint.style, {
    status: 503,
    type: "server_error",
    code: "overloaded",
    message,
  }, headers);
}

/**
 * The tail of an all-failed message naming the endpoints left out before any attempt, so a user
 * whose hosted fallback never ran learns why (`; not tried: openai (OPENAI_API_KEY unset)`).
 */
function notTried(skipped: Skipped[]): string {
  if (skipped.length === 0) return "";
  return `; not tried: ${
    skipped.map((s) => `${s.provider.id} (${s.down ? "down: " : "inactive: "}${s.reason})`)
      .join(", ")
  }`;
}

/**
 * The answer to a request still waiting for its upstream when the drain ended it: 503 in the
 * client's envelope, so its SDK raises an error it can retry against another instance.
 */
function shuttingDown(fr: ForwardRequest, deps: ForwardDeps, tried: number): Response {
  const message = `${SHUTDOWN_MESSAGE}; the request was stopped before its answer began — retry it`;
  deps.log.request({ ...requestRecord(fr, deps, tried, 503), outcome: "shutdown" });
  return errorResponse(fr.endpoint.style, {
    status: 503,
    type: "server_error",
    code: "shutting_down",
    message,
  }, {
    "x-request-id": fr.requestId,
    "x-bitrouter-attempts": String(tried),
    // A restart is seconds away; the SDKs honour Retry-After (SPEC §4).
    "retry-after": "2",
  });
}

/** Tells the health book an endpoint failed, and logs it once when that cools it down. */
function reportFailure(
  deps: ForwardDeps,
  candidate: Candidate,
  error: string,
  retryAfter?: string,
): void {
  const cooledMs = deps.health.report(candidate.provider.id, candidate.model, {
    ok: false,
    error,
    retryAfterSecs: retryAfterSecs(retryAfter),
  });
  if (cooledMs !== undefined) {
    deps.log.warn(
      `${candidate.provider.id} ${candidate.model}: cooling down for ${
        Math.round(cooledMs / 1000)
      }s (tried after healthy candidates meanwhile): ${error}`,
    );
  }
}

/** What a translation needs to know of this request and candidate. */
function contextFor(
  fr: ForwardRequest,
  candidate: Candidate,
  now: () => number,
): TranslationContext {
  return {
    requestedModel: fr.resolution.model,
    upstreamModel: candidate.model,
    requestId: fr.requestId,
    nowSecs: Math.floor(Date.now() / 1000),
    // Ollama's answers report durations on this clock.
    now,
    startedAtMs: fr.startedAt,
    upstreamKind: candidate.provider.kind,
    systemMessages: candidate.provider.chatCompatibility?.systemMessages,
    onResponse: fr.onResponse,
  };
}

/** The body sent to a candidate: the client's with only `model` changed, or its translation. */
function bodyFor(
  fr: ForwardRequest,
  candidate: Candidate,
  translated: Plan["translated"],
): string | Uint8Array<ArrayBuffer> | TranslationError {
  if (translated) {
    // Translation walks the body; JSON nested past the limit would overflow the stack there.
    if (tooDeep(fr)) return new TranslationError(tooDeepMessage());
    try {
      const body = translated.translation.request(fr.body, translated.ctx);
      // A server that rejects stream_options (compatibility.chat_completions) never gets it.
      if (candidate.provider.chatCompatibility?.supportsStreamOptions === false) {
        delete body.stream_options;
      }
      return JSON.stringify(body);
    } catch (e) {
      if (e instanceof TranslationError) return e;
      throw e;
    }
  }
  const body = withModel(fr, candidate);
  if (body instanceof TranslationError || !asksForUsage(fr, candidate)) return body;
  return withUsageAsked(fr, candidate, body);
}

/**
 * The client's body with only `model` changed (SPEC §5): its own bytes when the model stays as
 * sent — a string would be encoded again by fetch, about 3 µs per request in Deno 2.9.6 (bench) —
 * else its text with the model replaced, else (the model not found as plain text) serialised again.
 */
function withModel(
  fr: ForwardRequest,
  candidate: Candidate,
): string | Uint8Array<ArrayBuffer> | TranslationError {
  if (candidate.model === fr.body.model) return fr.bytes;
  const replaced = replaceModel(fr.text, candidate.model);
  if (replaced !== undefined) return replaced;
  if (tooDeep(fr)) return new TranslationError(tooDeepMessage());
  return JSON.stringify({ ...fr.body, model: candidate.model });
}

/** Whether the body nests past MAX_JSON_DEPTH, scanned once per request and only when asked. */
function tooDeep(fr: ForwardRequest): boolean {
  return fr.tooDeep ??= nestsDeeperThan(fr.text);
}

/**
 * Whether BitRouter adds `stream_options.include_usage` to this same-protocol chat stream (SPEC
 * §8): the client did not ask for usage, and the provider does not say it rejects the option.
 * The usage-only chunk that brings is then taken out of the client's stream.
 */
function asksForUsage(fr: ForwardRequest, candidate: Candidate): boolean {
  if (fr.body.stream !== true || fr.endpoint.path !== undefined) return false;
  if (fr.endpoint.protocol !== "chat_completions" || candidate.protocol !== "chat_completions") {
    return false;
  }
  if (candidate.provider.chatCompatibility?.supportsStreamOptions === false) return false;
  const options = fr.body.stream_options;
  return !(options !== null && typeof options === "object" &&
    (options as Record<string, unknown>).include_usage === true);
}

/**
 * The body to send (`withModel`'s) with `stream_options.include_usage: true`. With no
 * stream_options of the client's own the key is put in front of that text, a copy and no
 * re-serialising; otherwise the body is serialised again with the option merged in.
 */
function withUsageAsked(
  fr: ForwardRequest,
  candidate: Candidate,
  body: string | Uint8Array<ArrayBuffer>,
): string | Uint8Array<ArrayBuffer> | TranslationError {
  const options = fr.body.stream_options;
  if (options === undefined) {
    const base = typeof body === "string" ? new TextEncoder().encode(body) : body;
    if (base[0] === 0x7b) {
      const out = new Uint8Array(USAGE_OPTION.length + base.length - 1);
      out.set(USAGE_OPTION, 0);
      out.set(base.subarray(1), USAGE_OPTION.length);
      return out;
    }
  }
  if (tooDeep(fr)) return new TranslationError(tooDeepMessage());
  return JSON.stringify({
    ...fr.body,
    model: candidate.model,
    stream_options: {
      ...(options !== null && typeof options === "object" ? options : {}),
      include_usage: true,
    },
  });
}

/** The start of a body asking a chat server for usage on its stream (`{` then the option). */
const USAGE_OPTION = new TextEncoder().encode('{"stream_options":{"include_usage":true},');

/**
 * One attempt's hold on its request, from before the first byte is sent until the answer is
 * relayed or the attempt fails: the upstream request's controller, the watch on the client, and
 * the drain's tracking. `release` lets go of all of them, once, on every path.
 */
class Call {
  readonly upstream = new AbortController();
  readonly client: ClientWatch;
  readonly #drain: Drain | undefined;
  /** The capacity slot this attempt holds, if any (SPEC §3.5). */
  readonly #lease: Lease | undefined;
  #released = false;

  constructor(fr: ForwardRequest, deps: ForwardDeps, lease: Lease | undefined) {
    this.#lease = lease;
    this.client = watchClient(
      fr.request,
      fr.startedAt,
      deps,
      () => this.upstream.abort(new ClientGoneError()),
    );
    this.#drain = deps.drain;
    this.#drain?.track(this.upstream);
  }

  /** Stops watching the client and leaves the drain; later calls do nothing. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.client.release();
    this.#drain?.untrack(this.upstream);
    this.#lease?.release();
  }

  /** Why the attempt ended on `e`: the client left, a shutdown, or this endpoint's failure. */
  failure(provider: string, e: unknown): Attempt | Ended {
    this.release();
    const reason = this.upstream.signal.aborted ? this.upstream.signal.reason : e;
    if (this.client.gone() || reason instanceof ClientGoneError) return "client_gone";
    if (reason instanceof ShutdownError) return "shutdown";
    return { provider, ...describeFetchError(reason) };
  }
}

/**
 * Acquire: the hold for one attempt, or why none may start — the client already left, or the
 * drain has ended every request and nothing new is sent upstream.
 */
function openCall(fr: ForwardRequest, deps: ForwardDeps, lease: Lease | undefined): Call | Ended {
  const call = new Call(fr, deps, lease);
  if (call.client.gone()) {
    call.release();
    return "client_gone";
  }
  if (call.upstream.signal.aborted) {
    call.release();
    return "shutdown";
  }
  return call;
}

/** Sends the request to one candidate (SPEC §5): a Response to relay, an Attempt to fail over from, or how it ended. */
async function tryCandidate(
  fr: ForwardRequest,
  candidate: Candidate,
  plan: Plan,
  attemptNo: number,
  deps: ForwardDeps,
  lease?: Lease,
): Promise<Response | Attempt | Ended> {
  const call = openCall(fr, deps, lease);
  if (typeof call === "string") return call;
  const res = await upstreamResponse(fr, candidate, plan, call, deps);
  if (!(res instanceof Response)) return res;
  const refused = await endpointRefusal(res, candidate, call, deps);
  if (refused) return refused;
  const answer = answerFor(fr, candidate, plan, res, attemptNo, deps);
  return answer.isSse ? streamedAnswer(answer, call, deps) : await wholeAnswer(answer, call, deps);
}

/**
 * Send: the upstream's response headers, within one deadline — first at connect_secs, to check
 * the server can be reached at all, then, moved on, at first_byte_secs (one deadline per request,
 * not two). A failure to get them is this endpoint's (or the client left, or a shutdown).
 */
async function upstreamResponse(
  fr: ForwardRequest,
  candidate: Candidate,
  plan: Plan,
  call: Call,
  deps: ForwardDeps,
): Promise<Response | Attempt | Ended> {
  const { provider } = candidate;
  const t = provider.timeouts;
  const { deadlines } = deps;
  const { upstream } = call;
  const url = provider.apiBase + plan.path;
  deps.health.sending(provider.id, candidate.model);
  const sentAt = deps.now();
  const headersDueAt = sentAt + t.firstByteSecs * 1000;
  const noHeaders = () => {
    upstream.abort(
      new TimeLimitError(
        `no response headers within ${t.firstByteSecs}s (first_byte_secs)`,
        "first_byte",
      ),
    );
  };
  let headerDeadline = t.connectSecs < t.firstByteSecs
    ? deadlines.add(sentAt + t.connectSecs * 1000, () => {
      probeConnect(url, t.connectSecs, upstream);
      headerDeadline = deadlines.add(headersDueAt, noHeaders);
    })
    : deadlines.add(headersDueAt, noHeaders);
  try {
    return await deps.fetch(url, {
      method: "POST",
      headers: upstreamHeaders(fr.request.headers, provider, candidate.protocol, fr.requestId),
      body: plan.body,
      signal: upstream.signal,
    });
  } catch (e) {
    return call.failure(provider.id, e);
  } finally {
    deadlines.cancel(headerDeadline);
  }
}

/**
 * Judge the headers: the Attempt to fail over from when the status is specific to this endpoint
 * (SPEC §5: 401, 403, 404, 408, 409, 429, 5xx), its body's reason quoted; undefined to relay it.
 */
async function endpointRefusal(
  res: Response,
  candidate: Candidate,
  call: Call,
  deps: ForwardDeps,
): Promise<Attempt | undefined> {
  if (res.ok || !isRetryable(res.status)) return undefined;
  const { provider } = candidate;
  const detail = await upstreamErrorDetail(
    res,
    call.upstream,
    deps.deadlines,
    deps.now,
    providerSecrets(provider),
  );
  call.release();
  return {
    provider: provider.id,
    status: res.status,
    kind: "status",
    detail: `${res.status} ${detail}`.trim(),
    retryAfter: res.headers.get("retry-after") ?? undefined,
  };
}

/** An upstream answer to relay, with what the client's headers and the request log need. */
interface Answer {
  fr: ForwardRequest;
  candidate: Candidate;
  plan: Plan;
  res: Response;
  attemptNo: number;
  isSse: boolean;
  firstByteAt: number;
  /** When `total_secs` runs out, on the `now()` clock, if set. */
  totalAt: number | undefined;
  /** BitRouter's own headers (SPEC §4), also on an error it makes of this answer. */
  ours: Record<string, string>;
  /** The client's headers: the upstream's, cleaned, and ours. */
  headers: ReturnType<typeof clientHeaders>;
}

/** The answer to relay from `res`, with SPEC §4's headers naming what served it. */
function answerFor(
  fr: ForwardRequest,
  candidate: Candidate,
  plan: Plan,
  res: Response,
  attemptNo: number,
  deps: ForwardDeps,
): Answer {
  const firstByteAt = deps.now();
  const t = candidate.provider.timeouts;
  const totalAt = t.totalSecs === null ? undefined : fr.startedAt + t.totalSecs * 1000;
  const isSse = res.ok && res.body !== null &&
    (res.headers.get("content-type") ?? "").includes("text/event-stream");
  const ours: Record<string, string> = {
    "x-request-id": fr.requestId,
    // Ids may hold any character (`up:模型`); a header value must not (SPEC §11).
    "x-bitrouter-provider": headerSafe(candidate.provider.id),
    "x-bitrouter-model": headerSafe(candidate.model),
    "x-bitrouter-attempts": String(attemptNo),
  };
  if (fr.queuedMs !== undefined) ours["x-bitrouter-queued-ms"] = String(fr.queuedMs);
  if (plan.translated) {
    // The answer is re-encoded in the client's protocol; its type is ours to state.
    ours["content-type"] = isSse ? contentTypeOf(fr.endpoint.framing ?? "sse") : "application/json";
    if (isSse) ours["cache-control"] = "no-cache";
  }
  const headers = clientHeaders(res.headers, ours);
  return { fr, candidate, plan, res, attemptNo, isSse, firstByteAt, totalAt, ours, headers };
}

/** Writes the request log line of a relayed answer (SPEC §8). */
function logAnswer(
  a: Answer,
  deps: ForwardDeps,
  outcome: BodyOutcome,
  error?: string,
  usage?: Usage,
): void {
  deps.log.request({
    ...requestRecord(a.fr, deps, a.attemptNo, a.res.status),
    provider: a.candidate.provider.id,
    upstreamModel: a.candidate.model,
    streamed: a.isSse,
    ttfbMs: Math.round(a.firstByteAt - a.fr.startedAt),
    outcome,
    error,
    usage,
  });
}

/**
 * Relay a stream: the upstream's events piped to the client as they come (re-encoded when the
 * protocols differ), ended with the client's error event if it breaks off; the call is released
 * when the stream ends, however it ends.
 */
function streamedAnswer(a: Answer, call: Call, deps: ForwardDeps): Response {
  const { fr, candidate, res } = a;
  const { provider } = candidate;
  const { translated } = a.plan;
  deps.health.report(provider.id, candidate.model, { ok: true });
  const codec = translated
    ? new SseTranslator(
      translated.translation.stream(translated.ctx),
      fr.limits.maxEventBytes,
      fr.endpoint.framing,
      candidate.protocol,
    )
    : new SsePassthrough(candidate.protocol, { dropUsageChunk: asksForUsage(fr, candidate) });
  const relay = guardSse(res.body!, {
    upstream: call.upstream,
    idleMs: provider.timeouts.idleSecs * 1000,
    totalAt: a.totalAt,
    codec,
    provider: provider.id,
    now: deps.now,
    deadlines: deps.deadlines,
    onEnd: (outcome, error) => {
      call.release();
      if (outcome === "upstream_error" || outcome === "idle_timeout") {
        reportFailure(deps, candidate, `stream broke off: ${error ?? outcome}`);
      }
      logAnswer(a, deps, outcome, error, codec.usage());
    },
  });
  return new Response(relay, { status: res.status, headers: a.headers });
}

/**
 * Relay a whole answer (JSON): read it before answering, so the runtime relays it natively and a
 * body that breaks off can still fail over, since nothing has reached the client yet.
 */
async function wholeAnswer(
  a: Answer,
  call: Call,
  deps: ForwardDeps,
): Promise<Response | Attempt | Ended> {
  const { fr, candidate, res } = a;
  const { provider } = candidate;
  const t = provider.timeouts;
  const bodyAt = Math.min(deps.now() + t.idleSecs * 1000, a.totalAt ?? Infinity);
  const bodyDeadline = deps.deadlines.add(bodyAt, () => {
    call.upstream.abort(
      new TimeLimitError(
        `the answer did not finish within ${t.idleSecs}s of its headers (idle_secs)`,
        "idle",
      ),
    );
  });
  let read: LimitedBody;
  try {
    // An answer is read no further than `max_response_mb` (refused unread when its length says
    // so); an error answer like any error body, its start kept to quote.
    read = res.ok
      ? await readUpTo(res, fr.limits.maxResponseBytes, false)
      : await readUpTo(res, ERROR_BODY_BYTES);
  } catch (e) {
    const attempt = call.failure(provider.id, e);
    if (typeof attempt === "object") attempt.detail = `answer broke off: ${attempt.detail}`;
    return attempt;
  } finally {
    deps.deadlines.cancel(bodyDeadline);
  }
  call.release();
  if (!read.whole && res.ok) {
    return {
      provider: provider.id,
      status: res.status,
      kind: "status",
      detail: `answer too large: over ${
        mebibytes(fr.limits.maxResponseBytes)
      } (upstream.max_response_mb)`,
    };
  }
  // Error texts can echo the provider's key ("Incorrect API key provided: sk-…").
  const secrets = res.ok ? [] : providerSecrets(provider);
  if (!read.whole) return errorTooLarge(a, read.bytes, secrets, deps);
  const bytes = read.bytes;
  if (res.ok && !looksLikeJson(bytes)) {
    // A 200 that is not an API answer (an HTML page from a proxy, a cut-off body) is this
    // endpoint's failure, and nothing has reached the client yet.
    return {
      provider: provider.id,
      status: res.status,
      kind: "status",
      detail: `answered ${res.status} with a body that is not JSON (${
        res.headers.get("content-type") ?? "no content-type"
      })`,
    };
  }
  deps.health.report(provider.id, candidate.model, { ok: true });
  if (!a.plan.translated) {
    logAnswer(
      a,
      deps,
      undefined,
      undefined,
      res.ok ? usageFromBytes(candidate.protocol, bytes) : undefined,
    );
    return new Response(res.ok ? bytes : redactedBytes(bytes, secrets), {
      status: res.status,
      headers: a.headers,
    });
  }
  return translatedAnswer(a, bytes, secrets, deps);
}

/**
 * A 400/413/422 whose body runs past ERROR_BODY_BYTES. It is passed through so the client learns
 * what is wrong with its request (SPEC §5), but no API's error runs that long, and cutting one
 * there would hand the client broken JSON: BitRouter answers the same status in the client's own
 * envelope, quoting the start.
 */
function errorTooLarge(
  a: Answer,
  start: Uint8Array<ArrayBuffer>,
  secrets: readonly string[],
  deps: ForwardDeps,
): Response {
  const { provider } = a.candidate;
  const status = a.res.status;
  deps.health.report(provider.id, a.candidate.model, { ok: true });
  const quoted = readableErrorText(new TextDecoder().decode(start), status, secrets);
  const message = `${provider.id} answered ${status} with an error body over ${
    ERROR_BODY_BYTES / 1024
  } KiB${quoted ? `; it begins: ${quoted}` : ""}`;
  logAnswer(a, deps, undefined, message);
  return errorResponse(a.fr.endpoint.style, {
    status,
    type: "invalid_request_error",
    code: "upstream_error_too_large",
    message,
  }, a.ours);
}

/** Another protocol's whole answer, parsed and answered in the client's (SPEC §6); a body it cannot translate is this endpoint's failure. */
function translatedAnswer(
  a: Answer,
  bytes: Uint8Array<ArrayBuffer>,
  secrets: readonly string[],
  deps: ForwardDeps,
): Response | Attempt {
  const { res } = a;
  const { provider } = a.candidate;
  const text = redactSecrets(new TextDecoder().decode(bytes), secrets);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    if (res.ok) {
      return {
        provider: provider.id,
        status: res.status,
        kind: "status",
        detail: `answered ${res.status} with a body that is not valid JSON`,
      };
    }
    parsed = text;
  }
  const { translation, ctx } = a.plan.translated!;
  let answer: string;
  try {
    answer = JSON.stringify(
      res.ok ? translation.response(parsed, ctx) : translation.error(res.status, parsed),
    );
  } catch (e) {
    // An answer the translation cannot walk (nested past the stack, or a shape it chokes on) is
    // this endpoint's failure, not a 500: nothing has reached the client yet.
    return {
      provider: provider.id,
      status: res.status,
      kind: "status",
      detail: `answered ${res.status} with a body BitRouter could not translate (${
        e instanceof Error ? e.message.slice(0, 120) : String(e).slice(0, 120)
      })`,
    };
  }
  logAnswer(
    a,
    deps,
    undefined,
    undefined,
    res.ok ? usageReader(a.candidate.protocol).fromBody(parsed) : undefined,
  );
  return new Response(answer, { status: res.status, headers: a.headers });
}

/**
 * Called when headers have not come within `connect_secs`: fetch does not expose its connect
 * phase, so open a plain TCP connection to the same host; if that cannot connect either, the
 * server is unreachable and waiting for `first_byte_secs` would be pointless.
 */
async function probeConnect(url: string, connectSecs: number, upstream: AbortController) {
  if (upstream.signal.aborted) return;
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  const giveUp = AbortSignal.timeout(Math.min(connectSecs, 2) * 1000);
  try {
    const conn = await Promise.race([
      Deno.connect({ hostname: u.hostname.replace(/^\[|\]$/g, ""), port }),
      new Promise<never>((_, reject) =>
        giveUp.addEventListener("abort", () => reject(giveUp.reason))
      ),
    ]);
    conn.close();
  } catch {
    upstream.abort(
      new TimeLimitError(`could not connect within ${connectSecs}s (connect_secs)`, "connect"),
    );
  }
}

/** A short reason from an upstream error body (see readableErrorText), else its status text. */
async function upstreamErrorDetail(
  res: Response,
  upstream: AbortController,
  deadlines: Deadlines,
  now: () => number,
  secrets: readonly string[],
): Promise<string> {
  const deadline = deadlines.add(now() + 2000, () => upstream.abort());
  let text = "";
  try {
    // Only the start: 300 characters are quoted, and a 256 MB error page must cost no more.
    text = new TextDecoder().decode((await readUpTo(res, ERROR_BODY_BYTES)).bytes);
  } catch {
    return res.statusText;
  } finally {
    deadlines.cancel(deadline);
  }
  return readableErrorText(text, res.status, secrets) || res.statusText;
}

/** The body with the secrets redacted; the same bytes when it holds none. */
function redactedBytes(
  bytes: Uint8Array<ArrayBuffer>,
  secrets: readonly string[],
): Uint8Array<ArrayBuffer> {
  if (secrets.length === 0) return bytes;
  const text = new TextDecoder().decode(bytes);
  const redacted = redactSecrets(text, secrets);
  return redacted === text ? bytes : new TextEncoder().encode(redacted);
}

/**
 * Whether a whole answer has the outline of a JSON document: first and last non-blank bytes `{`
 * and `}` (or `[` and `]`). Parsing every answer would cost the hot path (SPEC §9); the outline
 * catches what goes wrong in practice — HTML error pages, plain text, bodies cut off mid-way.
 */
function looksLikeJson(b: Uint8Array): boolean {
  let i = 0;
  let j = b.length - 1;
  while (i <= j && isBlank(b[i])) i++;
  while (j >= i && isBlank(b[j])) j--;
  if (i >= j) return false;
  return (b[i] === 0x7b && b[j] === 0x7d) || (b[i] === 0x5b && b[j] === 0x5d);
}

function isBlank(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}
