/**
 * Any upstream error body as the OpenAI error envelope `{"error":{"message","type","code","param"}}`
 * (SPEC §4), which the openai SDKs turn into their typed errors. Upstreams answer in many shapes:
 * OpenAI's own envelope, vLLM's `{"error":"Unauthorized"}`, FastAPI's `{"detail":…}`, Anthropic's
 * `{"type":"error","error":{…}}`, or plain text and HTML from a proxy in between.
 */
import { errorMessageOf } from "./error_message.ts";
import { isRecord, type JsonObject, stringOf } from "./narrow.ts";

const TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  409: "conflict_error",
  413: "invalid_request_error",
  422: "invalid_request_error",
  429: "rate_limit_error",
};

/** The OpenAI error envelope for an upstream's error status and body (parsed JSON or text). */
export function openaiErrorBody(status: number, body: unknown): { error: JsonObject } {
  const error = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  const code = error?.code;
  return {
    error: {
      message: errorMessageOf(status, body),
      type: stringOf(error?.type) ?? TYPES[status] ??
        (status >= 500 ? "server_error" : "api_error"),
      code: typeof code === "string" || typeof code === "number" ? code : null,
      param: stringOf(error?.param) ?? null,
    },
  };
}
