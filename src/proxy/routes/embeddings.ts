/**
 * Embeddings for APIs whose embedding requests have their own shape (Ollama's `/api/embed`,
 * Gemini's `:embedContent`): sent as an OpenAI `/embeddings` request to the model's
 * Chat-Completions-protocol candidates, with failover, and read back as vectors. A caller that
 * has a Gemini upstream's own form of the request (`direct`) reaches the model's
 * generate_content candidates too, in the same failover order; their answers
 * (`{embedding: {values}}` or `{embeddings: [{values}]}`) are read back the same way.
 */
import { errorMessageOf } from "../../protocols/error_message.ts";
import { isRecord, type JsonObject, numberOf, parseJson, records } from "../../protocols/narrow.ts";
import type { Resolution } from "../../routing/resolve.ts";
import type { ErrorStyle } from "../envelope.ts";
import type { Endpoint } from "../forward.ts";
import type { RequestContext } from "../router.ts";
import { forwardResolved } from "./forwarding.ts";

/** What the upstream embedded: one vector per input, and the prompt tokens when it said. */
export interface Embedded {
  vectors: unknown[][];
  promptTokens?: number;
  /** The upstream's headers (request id, served-by), to answer with. */
  headers: Headers;
}

/**
 * Embeds the inputs with the first candidate that answers; or the error answer, in `style`
 * with `errorBody` making the body from a status and message.
 */
export async function embedInputs(
  ctx: RequestContext,
  resolution: Resolution,
  inputs: string[],
  dimensions: number | undefined,
  style: ErrorStyle,
  errorBody: (status: number, message: string) => unknown,
  direct?: Endpoint["direct"],
): Promise<Embedded | Response> {
  const body: JsonObject = { model: resolution.model, input: inputs };
  if (dimensions !== undefined) body.dimensions = dimensions;
  const text = JSON.stringify(body);
  const res = await forwardResolved(
    ctx,
    { protocol: "chat_completions", style, path: "/embeddings", direct },
    { body, text, bytes: new TextEncoder().encode(text) },
    resolution,
  );
  if (res.status === 499) return res;
  const answer = parseJson(await res.text());
  const headers = new Headers(res.headers);
  headers.delete("content-length");
  headers.set("content-type", "application/json; charset=utf-8");
  if (!res.ok) {
    // BitRouter's own errors are in `style` already; an upstream's 400 is in OpenAI's shape.
    const own = style === "ollama"
      ? isRecord(answer) && typeof answer.error === "string"
      : isRecord(answer) && isRecord(answer.error) && typeof answer.error.status === "string";
    const out = own ? answer : errorBody(res.status, errorMessageOf(res.status, answer));
    return new Response(JSON.stringify(out), { status: res.status, headers });
  }
  const usage = isRecord(answer) && isRecord(answer.usage) ? answer.usage : {};
  return { vectors: vectorsOf(answer), promptTokens: numberOf(usage.prompt_tokens), headers };
}

/** The vectors of an OpenAI embeddings answer (`data[].embedding`), or of Gemini's. */
function vectorsOf(answer: unknown): unknown[][] {
  if (!isRecord(answer)) return [];
  if (Array.isArray(answer.data)) {
    return records(answer.data).map((d) => Array.isArray(d.embedding) ? d.embedding : []);
  }
  const google = isRecord(answer.embedding) ? [answer.embedding] : records(answer.embeddings);
  return google.map((e) => Array.isArray(e.values) ? e.values : []);
}
