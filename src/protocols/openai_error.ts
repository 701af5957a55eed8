/**
 * Any upstream error body as the OpenAI error envelope `{"error":{"message","type","code","param"}}`
 * (SPEC §4), which the openai SDKs turn into their typed errors. Upstreams answer in many shapes:
 * OpenAI's own envelope, vLLM's `{"error":"Unauthorized"}`, FastAPI's `{"detail":…}`, Anthropic's
 * `{"type":"error","error":{…}}`, or plain text and HTML from a proxy in between.
 */
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
  const message = messageOf(error) ?? messageOf(isRecord(body) ? body : undefined) ??
    textOf(body) ?? `the upstream answered ${status} without saying why`;
  const code = error?.code;
  return {
    error: {
      message,
      type: stringOf(error?.type) ?? TYPES[status] ??
        (status >= 500 ? "server_error" : "api_error"),
      code: typeof code === "string" || typeof code === "number" ? code : null,
      param: stringOf(error?.param) ?? null,
    },
  };
}

function messageOf(o: JsonObject | undefined): string | undefined {
  if (!o) return undefined;
  for (const key of ["message", "error", "detail"]) {
    const v = o[key];
    if (typeof v === "string" && v.trim() !== "") return v;
    // FastAPI validation errors: a list of {msg}.
    if (key === "detail" && Array.isArray(v)) {
      const msgs = v.map((d) => (isRecord(d) ? stringOf(d.msg) : undefined)).filter(Boolean);
      if (msgs.length > 0) return msgs.join("; ");
    }
  }
  return undefined;
}

function textOf(body: unknown): string | undefined {
  if (typeof body !== "string") return undefined;
  // An HTML error page says little in its markup; keep its text, briefly.
  const text = body.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
  return text === "" ? undefined : text.slice(0, 500);
}
