/** The error shape a client's SDK expects. */
export type ErrorStyle = "openai" | "anthropic";

/** What an error BitRouter makes itself says. */
export interface ErrorBody {
  status: number;
  message: string;
  /** OpenAI `type`, e.g. `invalid_request_error`. */
  type: string;
  code?: string | null;
  param?: string | null;
}

const ANTHROPIC_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error",
};

/** The JSON text of an error in the client protocol's envelope (SPEC §4). */
export function errorJson(style: ErrorStyle, e: ErrorBody): string {
  if (style === "anthropic") {
    const type = ANTHROPIC_TYPES[e.status] ?? "api_error";
    return JSON.stringify({ type: "error", error: { type, message: e.message } });
  }
  return JSON.stringify({
    error: { message: e.message, type: e.type, code: e.code ?? null, param: e.param ?? null },
  });
}

/** An error response in the client protocol's envelope. */
export function errorResponse(style: ErrorStyle, e: ErrorBody, headers?: HeadersInit): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json");
  return new Response(errorJson(style, e), { status: e.status, headers: h });
}

/** The final SSE event that tells the client's SDK a stream broke (SPEC §5). */
export function streamErrorEvent(style: ErrorStyle, message: string): string {
  if (style === "anthropic") {
    return `\n\nevent: error\ndata: ${
      errorJson(style, { status: 500, message, type: "api_error" })
    }\n\n`;
  }
  return `\n\ndata: ${
    errorJson(style, { status: 502, message, type: "upstream_error", code: "stream_interrupted" })
  }\n\n`;
}
