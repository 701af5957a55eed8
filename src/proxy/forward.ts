import type { Protocol } from "../config/protocol.ts";
import type { Logger } from "../observe/log.ts";
import type { Candidate, Resolution } from "../routing/resolve.ts";
import { clientHeaders, upstreamHeaders } from "./headers.ts";
import { errorResponse, type ErrorStyle } from "./envelope.ts";
import {
  aggregateFailure,
  type Attempt,
  describeFetchError,
  formatAttempt,
  isRetryable,
} from "./failover.ts";
import { type BodyOutcome, guardSse, TimeLimitError } from "./guard_stream.ts";
import type { Deadlines } from "./deadlines.ts";
import { replaceModel } from "./body.ts";
import { watchClient } from "./client_watch.ts";

/** One BitRouter endpoint that forwards: its protocol and the upstream path it maps to. */
export interface Endpoint {
  protocol: Protocol;
  upstreamPath: string;
  style: ErrorStyle;
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
}

/** The runtime's pieces, injectable for tests (STYLE: `{ fetch, now, log }`). */
export interface ForwardDeps {
  fetch: typeof fetch;
  now: () => number;
  log: Logger;
  /** The shared timer for every request's time limits. */
  deadlines: Deadlines;
}

/** The abort reason when the client left. */
class ClientGoneError extends DOMException {
  constructor() {
    super("client disconnected", "AbortError");
  }
}

/** The request is over because the client left; nothing will read this response. */
const CLIENT_GONE_STATUS = 499;

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
  for (const candidate of fr.resolution.candidates) {
    if (candidate.protocol !== fr.endpoint.protocol) {
      attempts.push({
        provider: candidate.provider.id,
        kind: "unsupported",
        detail:
          `speaks ${candidate.protocol}, and translation from ${fr.endpoint.protocol} is not available yet`,
      });
      continue;
    }
    tried++;
    const result = await tryCandidate(fr, candidate, tried, deps);
    if (result instanceof Response) return result;
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
  } for "${fr.resolution.model}" failed: ${attempts.map(formatAttempt).join("; ")}`;
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

/** Sends the request to one candidate: a Response to relay, an Attempt to fail over from, or the client left. */
async function tryCandidate(
  fr: ForwardRequest,
  candidate: Candidate,
  attemptNo: number,
  deps: ForwardDeps,
): Promise<Response | Attempt | "client_gone"> {
  const { provider } = candidate;
  const t = provider.timeouts;
  const { deadlines } = deps;
  const upstream = new AbortController();
  const client = watchClient(
    fr.request,
    fr.startedAt,
    deps,
    () => upstream.abort(new ClientGoneError()),
  );
  const release = client.release;
  if (client.gone()) {
    release();
    return "client_gone";
  }
  const failed = (e: unknown): Attempt | "client_gone" => {
    release();
    const reason = upstream.signal.aborted ? upstream.signal.reason : e;
    if (client.gone() || reason instanceof ClientGoneError) return "client_gone";
    return { provider: provider.id, ...describeFetchError(reason) };
  };

  const url = provider.apiBase + fr.endpoint.upstreamPath;
  // The client's own bytes when the model stays as sent: a string would be encoded again by
  // fetch, about 3 µs per request in Deno 2.9.6 (bench).
  const body = candidate.model === fr.body.model
    ? fr.bytes
    : replaceModel(fr.text, candidate.model) ??
      JSON.stringify({ ...fr.body, model: candidate.model });

  const sentAt = deps.now();
  const headerDeadline = deadlines.add(sentAt + t.firstByteSecs * 1000, () => {
    upstream.abort(
      new TimeLimitError(
        `no response headers within ${t.firstByteSecs}s (first_byte_secs)`,
        "first_byte",
      ),
    );
  });
  const connectDeadline = t.connectSecs < t.firstByteSecs
    ? deadlines.add(sentAt + t.connectSecs * 1000, () => probeConnect(url, t.connectSecs, upstream))
    : undefined;
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
    deadlines.cancel(connectDeadline);
  }

  if (!res.ok && isRetryable(res.status)) {
    const detail = await upstreamErrorDetail(res, upstream, deadlines, deps.now);
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
  const headers = clientHeaders(res.headers, {
    "x-request-id": fr.requestId,
    "x-bitrouter-provider": provider.id,
    "x-bitrouter-model": candidate.model,
    "x-bitrouter-attempts": String(attemptNo),
  });
  const isSse = res.ok && res.body !== null &&
    (res.headers.get("content-type") ?? "").includes("text/event-stream");
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
    const relay = guardSse(res.body!, {
      upstream,
      idleMs: t.idleSecs * 1000,
      totalAt,
      sseStyle: fr.endpoint.style,
      provider: provider.id,
      now: deps.now,
      deadlines,
      onEnd: (outcome, error) => {
        release();
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
  let bytes: ArrayBuffer;
  try {
    bytes = await res.arrayBuffer();
  } catch (e) {
    const attempt = failed(e);
    if (attempt !== "client_gone") attempt.detail = `answer broke off: ${attempt.detail}`;
    return attempt;
  } finally {
    deadlines.cancel(bodyDeadline);
  }
  release();
  log(undefined);
  return new Response(bytes, { status: res.status, headers });
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

/** A short reason from an upstream error body: its JSON `error.message`, else its text. */
async function upstreamErrorDetail(
  res: Response,
  upstream: AbortController,
  deadlines: Deadlines,
  now: () => number,
): Promise<string> {
  const deadline = deadlines.add(now() + 2000, () => upstream.abort());
  let text = "";
  try {
    text = await res.text();
  } catch {
    return res.statusText;
  } finally {
    deadlines.cancel(deadline);
  }
  try {
    const j = JSON.parse(text);
    const m = typeof j?.error === "string" ? j.error : j?.error?.message ?? j?.message;
    if (typeof m === "string" && m) return m.slice(0, 300);
  } catch { /* not JSON */ }
  const plain = text.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
  return (plain || res.statusText).slice(0, 160);
}
