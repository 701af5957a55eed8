/** Anthropic's error envelope and the error type its API uses for each HTTP status. */

import { isRecord, stringOf } from "../narrow.ts";

const TYPES_BY_STATUS: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  529: "overloaded_error",
};

/** The error types the Anthropic SDK knows; anything else is reported as `api_error`. */
const KNOWN_TYPES = new Set([
  ...Object.values(TYPES_BY_STATUS),
  "api_error",
  "billing_error",
  "timeout_error",
]);

/** The Anthropic error type for an HTTP status (`api_error` for any status it has no name for). */
export function anthropicErrorType(status: number): string {
  return TYPES_BY_STATUS[status] ?? "api_error";
}

/** The type when Anthropic's API uses it, else `api_error`. */
export function knownAnthropicErrorType(type: unknown): string {
  const name = stringOf(type);
  return name !== undefined && KNOWN_TYPES.has(name) ? name : "api_error";
}

/** An Anthropic error body: `{"type":"error","error":{"type","message"}}`. */
export function anthropicError(type: string, message: string): Record<string, unknown> {
  return { type: "error", error: { type, message } };
}

/** The `{type, message}` of an Anthropic error envelope, when the body is one. */
export function readAnthropicError(body: unknown): { type: string; message: string } | undefined {
  if (!isRecord(body) || !isRecord(body.error)) return undefined;
  const type = stringOf(body.error.type);
  const message = stringOf(body.error.message);
  return type !== undefined && message !== undefined ? { type, message } : undefined;
}
