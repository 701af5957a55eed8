import { type Protocol, PROTOCOL_PATHS } from "../config/protocol.ts";
import type { Logger } from "../observe/log.ts";
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
import { translationFor } from "../protocols/registry.ts";
import {
  type Translation,
  type TranslationContext,
  TranslationError,
} from "../protocols/translation.ts";
import { watchClient } from "./client_watch.ts";
import { nestsDeeperThan, tooDeepMessage } from "./json_depth.ts";
import { type Drain, SHUTDOWN_MESSAGE, ShutdownError } from "./drain.ts";
import type { UpstreamLimits } from "../config/types.ts";
import { ERROR_BODY_BYTES, type LimitedBody, mebibytes, readUpTo } from "./upstream_body.ts";
import { providerSecrets, redactSecrets } from "./redact.ts";

/** One BitRouter endpoint that forwards: the client's protocol and its error envelope. */
export interface Endpoint {
  protocol: Protocol;
  style: ErrorStyle;
  /**
   * The upstream path for endpoints served only by upstreams of the same protocol, without
   * translation (`/embeddings`, `/completions`); absent, the path is the candidate protocol's.
   */
  path?: string;
}

/** How one candidate is called: the path, and the translation when protocols differ. */
interface Plan {
  path: string;
  /** Only when the protocols differ; one context per attempt, shared by its request and answer. */
  translated?: { translation: Translation; ctx: TranslationContext };
}

/** The plan for a candidate, or why this endpoint cannot use it. */
function planFor(fr: ForwardRequest, candidate: Candidate): Plan | string {
  const { endpoint } = fr;
  const { protocol } = candidate;
  if (protocol === endpoint.protocol) {
    return { path: endpoint.path ?? PROTOCOL_PATHS[protocol]! };
  }
  const path = PROTOCOL_PATHS[protocol];
  const translation = endpoint.path ? undefined : translationFor(endpoint.protocol, protocol);
  if (!path || !translation) {
    return `speaks ${protocol}, and BitRouter cannot translate ${endpoint.protocol} to it`;
  }
  return { path, translated: { translation, ctx: contextFor(fr, candidate) } };
}

/** Everything one forwarded request needs. */
export interface ForwardRequest {
  request: Request;
  requestId: string;
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

/** Tries each candidate in order (SPEC §5) and relays the first usable answer. */
export async function forwardWithFailover(
  fr: ForwardRequest,
  deps: ForwardDeps,
): Promise<Response> {
  const attempts: Attempt[] = [];
  let tried = 0;
  const streamed = fr.body.stream === true;
  const logBase = {
    requestId: fr.requestId,
    protocol: fr.endpoint.protocol,
    model: fr.resolution.model,
    streamed,
  };
  for (const candidate of deps.health.order(fr.resolution.candidates)) {
    const plan = planFor(fr, candidate);
    if (typeof plan === "string") {
      attempts.push({ provider: candidate.provider.id, kind: "unsupported", detail: plan });
      continue;
    }
    const upstreamBody = bodyFor(fr, candidate, plan);
    if (upstreamBody instanceof TranslationError) {
      attempts.push({
        provider: candidate.provider.id,
        kind: "unsupported",
        status: 400,
        detail: upstreamBody.message,
      });
      continue;
    }
    tried++;
    const result = await tryCandidate(fr, candidate, plan, upstreamBody, tried, deps);
    if (result instanceof Response) return result;
    if (result === "shutdown") return shuttingDown(fr, deps, tried);
    if (result === "client_gone") {
      deps.log.request({
        ...logBase,
        attempts: tried,
        status: CLIENT_GONE_STATUS,
        totalMs: Math.round(deps.now() - fr.startedAt),
        outcome: "client_gone",
      });
      return new Response(null, { status: CLIENT_GONE_STATUS });
    }
    attempts.push(result);
    reportFailure(deps, candidate, result.detail, result.retryAfter);
    deps.log.debug("candidate failed", { id: fr.requestId, attempt: formatAttempt(result) });
  }
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
  deps.log.request({
    ...logBase,
    attempts: tried,
    status: failure.status,
    totalMs: Math.round(deps.now() - fr.startedAt),
    error: message,
  });
  return errorResponse(fr.endpoint.style, {
    status: failure.status,
    message,
    type: failure.type,
    code: failure.code,
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
  deps.log.request({
    requestId: fr.requestId,
    protocol: fr.endpoint.protocol,
    model: fr.resolution.model,
    streamed: fr.body.stream === true,
    attempts: tried,
    status: 503,
    totalMs: Math.round(deps.now() - fr.startedAt),
    outcome: "shutdown",
  });
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
function contextFor(fr: ForwardRequest, candidate: Candidate): TranslationContext {
  return {
    requestedModel: fr.resolution.model,
    upstreamModel: candidate.model,
    requestId: fr.requestId,
    nowSecs: Math.floor(Date.now() / 1000),
  };
}

/** The body sent to a candidate: the client's with only `model` changed, or its translation. */
function bodyFor(
  fr: ForwardRequest,
  candidate: Candidate,
  plan: Plan,
): string | Uint8Array<ArrayBuffer> | TranslationError {
  if (plan.translated) {
    // Translation walks the body; JSON nested past the limit would overflow the stack there.
    if ((fr.tooDeep ??= nestsDeeperThan(fr.text))) return new TranslationError(tooDeepMessage());
    try {
      return JSON.stringify(plan.translated.translation.request(fr.body, plan.translated.ctx));
    } catch (e) {
      if (e instanceof TranslationError) return e;
      throw e;
    }
  }
  // The client's own bytes when the model stays as sent: a string would be encoded again by
  // fetch, about 3 µs per request in Deno 2.9.6 (bench).
  if (candidate.model === fr.body.model) return fr.bytes;
  const replaced = replaceModel(fr.text, candidate.model);
  if (replaced !== undefined) return replaced;
  if ((fr.tooDeep ??= nestsDeeperThan(fr.text))) return new TranslationError(tooDeepMessage());
  return JSON.stringify({ ...fr.body, model: candidate.model });
}

/** Sends the request to one candidate: a Response to relay, an Attempt to fail over from, or the client left. */
async function tryCandidate(
  fr: ForwardRequest,
  candidate: Candidate,
  plan: Plan,
  body: string | Uint8Array<ArrayBuffer>,
  attemptNo: number,
  deps: ForwardDeps,
): Promise<Response | Attempt | Ended> {
  const { provider } = candidate;
  const t = provider.timeouts;
  const { deadlines, drain } = deps;
  const upstream = new AbortController();
  const client = watchClient(
    fr.request,
    fr.startedAt,
    deps,
    () => upstream.abort(new ClientGoneError()),
  );
  drain?.track(upstream);
  const release = () => {
    client.release();
    drain?.untrack(upstream);
  };
  if (client.gone()) {
    release();
    return "client_gone";
  }
  if (upstream.signal.aborted) {
    // The drain had already ended every request: nothing new is sent upstream.
    release();
    return "shutdown";
  }
  const failed = (e: unknown): Attempt | Ended => {
    release();
    const reason = upstream.signal.aborted ? upstream.signal.reason : e;
    if (client.gone() || reason instanceof ClientGoneError) return "client_gone";
    if (reason instanceof ShutdownError) return "shutdown";
    return { provider: provider.id, ...describeFetchError(reason) };
  };

  const url = provider.apiBase + plan.path;
  const { translated } = plan;

  deps.health.sending(provider.id, candidate.model);
  const sentAt = deps.now();
  // One deadline until the headers: first at connect_secs, to check the server can be reached
  // at all, then, moved on, at first_byte_secs (one deadline per request, not two).
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
  let res: Response;
  try {
    res = await deps.fetch(url, {
      method: "POST",
      headers: upstreamHeaders(fr.request.headers, provider, candidate.protocol, fr.requestId),
      body,
      signal: upstream.signal,
    });
  } catch (e) {
    return failed(e);
  } finally {
    deadlines.cancel(headerDeadline);
  }

  if (!res.ok && isRetryable(res.status)) {
    const detail = await upstreamErrorDetail(
      res,
      upstream,
      deadlines,
      deps.now,
      providerSecrets(provider),
    );
    release();
    return {
      provider: provider.id,
      status: res.status,
      kind: "status",
      detail: `${res.status} ${detail}`.trim(),
      retryAfter: res.headers.get("retry-after") ?? undefined,
    };
  }

  const firstByteAt = deps.now();
  const totalAt = t.totalSecs === null ? undefined : fr.startedAt + t.totalSecs * 1000;
  const isSse = res.ok && res.body !== null &&
    (res.headers.get("content-type") ?? "").includes("text/event-stream");
  const ours: Record<string, string> = {
    "x-request-id": fr.requestId,
    // Ids may hold any character (`up:模型`); a header value must not (SPEC §11).
    "x-bitrouter-provider": headerSafe(provider.id),
    "x-bitrouter-model": headerSafe(candidate.model),
    "x-bitrouter-attempts": String(attemptNo),
  };
  if (translated) {
    // The answer is re-encoded in the client's protocol; its type is ours to state.
    ours["content-type"] = isSse ? "text/event-stream; charset=utf-8" : "application/json";
    if (isSse) ours["cache-control"] = "no-cache";
  }
  const headers = clientHeaders(res.headers, ours);
  const log = (outcome: BodyOutcome, error?: string) =>
    deps.log.request({
      requestId: fr.requestId,
      protocol: fr.endpoint.protocol,
      model: fr.resolution.model,
      provider: provider.id,
      upstreamModel: candidate.model,
      attempts: attemptNo,
      status: res.status,
      streamed: isSse,
      ttfbMs: Math.round(firstByteAt - fr.startedAt),
      totalMs: Math.round(deps.now() - fr.startedAt),
      outcome,
      error,
    });

  if (isSse) {
    deps.health.report(provider.id, candidate.model, { ok: true });
    const relay = guardSse(res.body!, {
      upstream,
      idleMs: t.idleSecs * 1000,
      totalAt,
      codec: translated
        ? new SseTranslator(translated.translation.stream(translated.ctx), fr.limits.maxEventBytes)
        : new SsePassthrough(fr.endpoint.protocol),
      provider: provider.id,
      now: deps.now,
      deadlines,
      onEnd: (outcome, error) => {
        release();
        if (outcome === "upstream_error" || outcome === "idle_timeout") {
          reportFailure(deps, candidate, `stream broke off: ${error ?? outcome}`);
        }
        log(outcome, error);
      },
    });
    return new Response(relay, { status: res.status, headers });
  }

  // A whole answer (JSON): read it before answering, so the runtime relays it natively and a
  // body that breaks off can still fail over, since nothing has reached the client yet.
  const bodyAt = Math.min(deps.now() + t.idleSecs * 1000, totalAt ?? Infinity);
  const bodyDeadline = deadlines.add(bodyAt, () => {
    upstream.abort(
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
    const attempt = failed(e);
    if (typeof attempt === "object") attempt.detail = `answer broke off: ${attempt.detail}`;
    return attempt;
  } finally {
    deadlines.cancel(bodyDeadline);
  }
  release();
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
  if (!read.whole) {
    // A 400/413/422 is passed through so the client learns what is wrong with its request
    // (SPEC §5), but no API's error runs past ERROR_BODY_BYTES, and cutting one there would hand
    // the client broken JSON: BitRouter answers the same status in the client's own envelope,
    // quoting the start.
    deps.health.report(provider.id, candidate.model, { ok: true });
    const quoted = readableErrorText(new TextDecoder().decode(read.bytes), res.status, secrets);
    const message = `${provider.id} answered ${res.status} with an error body over ${
      ERROR_BODY_BYTES / 1024
    } KiB${quoted ? `; it begins: ${quoted}` : ""}`;
    log(undefined, message);
    return errorResponse(fr.endpoint.style, {
      status: res.status,
      type: "invalid_request_error",
      code: "upstream_error_too_large",
      message,
    }, ours);
  }
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
  if (!translated) {
    log(undefined);
    return new Response(res.ok ? bytes : redactedBytes(bytes, secrets), {
      status: res.status,
      headers,
    });
  }
  // Another protocol's answer: parse it and answer in the client's (SPEC §6).
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
  const { translation, ctx } = translated;
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
  log(undefined);
  return new Response(answer, { status: res.status, headers });
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
