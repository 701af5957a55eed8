import { upstreamMessageOf } from "../protocols/error_message.ts";
import { parseJson } from "../protocols/narrow.ts";
import { redactSecrets } from "./redact.ts";

/** Statuses that are specific to one endpoint, so the next candidate may do better (SPEC §5). */
export function isRetryable(status: number): boolean {
  return status === 401 || status === 403 || status === 404 || status === 408 ||
    status === 409 || status === 429 || status >= 500;
}

/** Why one candidate failed. */
export interface Attempt {
  provider: string;
  /** Upstream status, when it answered. */
  status?: number;
  /** All `timeout`s make a 504; all `status` 429s make a 429; `unsupported` was never sent. */
  kind: "status" | "network" | "timeout" | "unsupported";
  detail: string;
  retryAfter?: string;
}

/** A short, user-facing reason for a failed fetch. */
export function describeFetchError(e: unknown): { kind: Attempt["kind"]; detail: string } {
  if (e instanceof DOMException && e.name === "TimeoutError") {
    return { kind: "timeout", detail: e.message };
  }
  const message = causeChain(e);
  if (/connection refused/i.test(message)) {
    return { kind: "network", detail: "connection refused (is the server running?)" };
  }
  if (/dns error|failed to lookup|name or service not known|no such host/i.test(message)) {
    return { kind: "network", detail: "DNS lookup failed (check api_base)" };
  }
  if (/connection reset|broken pipe|connection closed/i.test(message)) {
    return { kind: "network", detail: "connection reset" };
  }
  return { kind: "network", detail: message.replace(/\s+/g, " ").slice(0, 200) };
}

/**
 * The messages of an error and its causes: Deno 2.9.6's fetch rejects with a bare
 * `TypeError: fetch failed` whose `cause` says what happened (`… tcp connect error: Connection
 * refused`), so the message alone cannot tell a refused connection from a reset.
 */
function causeChain(e: unknown): string {
  const parts: string[] = [];
  for (let x = e, depth = 0; x !== undefined && x !== null && depth < 4; depth++) {
    parts.push(x instanceof Error ? x.message : String(x));
    x = x instanceof Error ? x.cause : undefined;
  }
  return parts.join(": ");
}

/** The longest upstream error quoted for one attempt: several share one all-failed message. */
const MAX_QUOTED = 300;

/**
 * A short, readable reason from an upstream's error body (see upstreamMessageOf: JSON envelopes,
 * HTML pages by their title or text, plain text); empty when it says nothing. A leading status
 * code the caller prints anyway is dropped (`500 Internal Server Error`, not
 * `500 500 Internal Server Error`). `secrets` (the provider's key, which upstreams echo: "Incorrect
 * API key provided: sk-…") are redacted before the text is cut, so no part of one is quoted.
 */
export function readableErrorText(
  text: string,
  status: number,
  secrets: readonly string[] = [],
): string {
  let plain = redactSecrets(upstreamMessageOf(parseJson(text) ?? text) ?? "", secrets);
  if (plain.startsWith(`${status} `)) plain = plain.slice(String(status).length + 1);
  return plain.length > MAX_QUOTED ? `${plain.slice(0, MAX_QUOTED - 1)}…` : plain;
}

/** One attempt as the aggregated error lists it: `ollama: connection refused`. */
export function formatAttempt(a: Attempt): string {
  return `${a.provider}: ${a.detail}`;
}

/**
 * The status and headers to answer with when every candidate failed (SPEC §5): 429 when all were
 * rate limits, 404 when all said not found, 504 when all timed out, else 502.
 */
export function aggregateFailure(attempts: Attempt[]): {
  status: number;
  type: string;
  code: string;
  retryAfter?: string;
} {
  const tried = attempts.filter((a) => a.kind !== "unsupported");
  if (tried.length === 0 && attempts.some((a) => a.status === 400)) {
    // Nothing was sent: the request cannot be expressed for any candidate (SPEC §6).
    return { status: 400, type: "invalid_request_error", code: "invalid_request" };
  }
  if (attempts.length > 0 && tried.length === 0) {
    // Nothing was sent: no candidate speaks a protocol this endpoint reaches. No retry helps
    // (SPEC §4: a 4xx saying why, never a 502 the SDKs would retry).
    return { status: 400, type: "invalid_request_error", code: "unsupported" };
  }
  if (tried.length && tried.every((a) => a.status === 429)) {
    const waits = tried.map((a) => a.retryAfter).filter((r): r is string => r !== undefined);
    const seconds = waits.map(Number).filter((n) => Number.isFinite(n));
    const retryAfter = seconds.length ? String(Math.min(...seconds)) : waits[0];
    return { status: 429, type: "rate_limit_error", code: "rate_limit_exceeded", retryAfter };
  }
  if (tried.length && tried.every((a) => a.status === 404)) {
    // Every server said it has no such model (Ollama's answer for a model it has not pulled): the
    // client should see the not-found it would get from the server itself, not a gateway error.
    return { status: 404, type: "invalid_request_error", code: "model_not_found" };
  }
  if (tried.length && tried.every((a) => a.kind === "timeout")) {
    return { status: 504, type: "upstream_error", code: "upstream_timeout" };
  }
  return { status: 502, type: "upstream_error", code: "upstream_failed" };
}
