/** Google's error envelope `{"error":{"code","message","status"}}` and its status names. */

import { errorMessageOf } from "../error_message.ts";
import { isRecord, numberOf, stringOf } from "../narrow.ts";

/** The canonical gRPC status Google's REST APIs name for each HTTP status. */
const STATUS_NAMES: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  405: "INVALID_ARGUMENT",
  408: "DEADLINE_EXCEEDED",
  409: "ABORTED",
  413: "INVALID_ARGUMENT",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "UNIMPLEMENTED",
  502: "UNAVAILABLE",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

/** The status name for an HTTP status: `INTERNAL` for other 5xx, `FAILED_PRECONDITION` for other 4xx. */
export function googleStatusName(status: number): string {
  return STATUS_NAMES[status] ?? (status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION");
}

/** A Google error body for an HTTP status and message. */
export function googleError(status: number, message: string): { error: Record<string, unknown> } {
  return { error: { code: status, message, status: googleStatusName(status) } };
}

/** Any upstream error body (parsed JSON or text) in Google's envelope; a Google body is kept as it is. */
export function googleErrorBody(status: number, body: unknown): { error: Record<string, unknown> } {
  if (isRecord(body) && isRecord(body.error) && stringOf(body.error.status) !== undefined) {
    const e = body.error;
    return {
      error: {
        code: numberOf(e.code) ?? status,
        message: errorMessageOf(status, body),
        status: e.status,
      },
    };
  }
  return googleError(status, errorMessageOf(status, body));
}
