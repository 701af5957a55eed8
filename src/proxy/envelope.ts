import type { Protocol } from "../config/protocol.ts";
import { anthropicError, anthropicErrorType } from "../protocols/messages/errors.ts";
import { googleError } from "../protocols/gemini/errors.ts";
import { ollamaError } from "../protocols/ollama/errors.ts";

/** The error shape a client's SDK expects: Ollama's is `{"error":"…"}`, Google's `{"error":{code,message,status}}`. */
export type ErrorStyle = "openai" | "anthropic" | "ollama" | "google";

/** What an error BitRouter makes itself says. */
export interface ErrorBody {
  status: number;
  message: string;
  /** OpenAI `type`, e.g. `invalid_request_error`. */
  type: string;
  code?: string | null;
  param?: string | null;
}

/** The JSON text of an error in the client protocol's envelope (SPEC §4). */
export function errorJson(style: ErrorStyle, e: ErrorBody): string {
  if (style === "anthropic") {
    // Anthropic says overloaded with its own type; BitRouter's full queue is that (SPEC §3.5).
    const type = e.code === "overloaded" ? "overloaded_error" : anthropicErrorType(e.status);
    return JSON.stringify(anthropicError(type, e.message));
  }
  if (style === "ollama") return JSON.stringify(ollamaError(e.message));
  if (style === "google") return JSON.stringify(googleError(e.status, e.message));
  return JSON.stringify({
    error: { message: e.message, type: e.type, code: e.code ?? null, param: e.param ?? null },
  });
}

/**
 * Statuses of BitRouter's own answers that no retry can change (SPEC §4): the SDKs retry on
 * their own unless told not to, and Claude Code retried a wrong key silently for minutes.
 */
const FINAL_STATUSES = new Set([400, 401, 403, 404, 405, 413]);

/** An error response in the client protocol's envelope; `x-should-retry: false` where no retry helps. */
export function errorResponse(style: ErrorStyle, e: ErrorBody, headers?: HeadersInit): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json");
  if (FINAL_STATUSES.has(e.status) && !h.has("x-should-retry")) h.set("x-should-retry", "false");
  return new Response(errorJson(style, e), { status: e.status, headers: h });
}

/**
 * The final SSE event that tells the client's SDK a stream broke (SPEC §5), in the client's
 * protocol: `data: {"error":…}` for Chat Completions, `event: error` for Messages,
 * `response.failed` for Responses. It starts with a blank line, so it stands alone even when the
 * upstream broke off in the middle of an event.
 */
export function streamErrorEvent(protocol: Protocol, message: string): string {
  if (protocol === "messages") {
    return `\n\nevent: error\ndata: ${
      errorJson("anthropic", { status: 500, message, type: "api_error" })
    }\n\n`;
  }
  if (protocol === "responses") {
    const failed = {
      type: "response.failed",
      response: {
        object: "response",
        status: "failed",
        error: { code: "server_error", message },
        output: [],
      },
    };
    return `\n\nevent: response.failed\ndata: ${JSON.stringify(failed)}\n\n`;
  }
  return `\n\ndata: ${
    errorJson("openai", {
      status: 502,
      message,
      type: "upstream_error",
      code: "stream_interrupted",
    })
  }\n\n`;
}
