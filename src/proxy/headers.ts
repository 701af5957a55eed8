import type { Protocol } from "../config/protocol.ts";
import type { Provider } from "../config/types.ts";

/** Headers that describe one hop, never to be forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** The client's credentials and what fetch must set itself. */
const NOT_FORWARDED = new Set([
  "host",
  "content-length",
  "authorization",
  "x-api-key",
  "api-key",
  "x-goog-api-key",
  "cookie",
  "accept-encoding",
  "anthropic-version",
]);

/** Removes hop-by-hop headers, including any the `Connection` header names. */
export function stripHopByHop(headers: Headers): Headers {
  const named = headers.get("connection");
  for (const h of HOP_BY_HOP) headers.delete(h);
  if (named) { for (const h of named.split(",")) headers.delete(h.trim()); }
  return headers;
}

/** What never goes back to the client: hop-by-hop, and what fetch has already undone. */
const NOT_RETURNED = new Set([...HOP_BY_HOP, "content-length", "content-encoding"]);

/**
 * The headers sent upstream (SPEC §5): the client's minus credentials and hop-by-hop, plus the
 * provider's.
 *
 * Built as a plain object, not a `Headers`: in Deno 2.9.6 every `Headers` set/delete re-validates
 * its arguments through WebIDL and `fetch` copies a `Headers` init entry by entry again, which
 * together cost about 5 µs per request (bench); a plain object is validated once, by `fetch`.
 */
export function upstreamHeaders(
  client: Headers,
  provider: Provider,
  protocol: Protocol,
  requestId: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  let named: string | undefined;
  // forEach, not for…of: it yields lower-case names without an iterator result per entry.
  client.forEach((value, name) => {
    if (name === "connection") named = value;
    if (NOT_FORWARDED.has(name) || HOP_BY_HOP.has(name)) return;
    if (name === "anthropic-beta" && protocol !== "messages") return;
    out[name] = value;
  });
  if (named) { for (const h of named.split(",")) delete out[h.trim().toLowerCase()]; }
  out["x-request-id"] = requestId;
  if (out["content-type"] === undefined) out["content-type"] = "application/json";
  for (const [name, value] of Object.entries(provider.headers)) out[name.toLowerCase()] = value;
  if (protocol === "messages") {
    // Every Messages server wants a version, keyed or not (a local server speaking Messages too).
    out["anthropic-version"] = client.get("anthropic-version") ?? "2023-06-01";
    if (provider.apiKey) out["x-api-key"] = provider.apiKey;
  } else if (protocol === "generate_content") {
    // Google's own header: a Bearer token there is read as an OAuth token and refused.
    if (provider.apiKey) out["x-goog-api-key"] = provider.apiKey;
  } else if (provider.apiKey) out["authorization"] = `Bearer ${provider.apiKey}`;
  return out;
}

/**
 * The headers sent back to the client: the upstream's minus hop-by-hop and what fetch already
 * undid, then `extra` (BitRouter's own). A plain object for the reason given at
 * `upstreamHeaders`, and because `new Response(bytes, { headers: object })` lets Deno.serve
 * build the whole response natively; a `Headers` only when the upstream set cookies, since
 * several `set-cookie` lines cannot share one object key.
 */
export function clientHeaders(
  upstream: Headers,
  extra: Record<string, string> = {},
): Record<string, string> | Headers {
  const out: Record<string, string> = {};
  let cookies: string[] | undefined;
  let named: string | undefined;
  upstream.forEach((value, name) => {
    if (name === "connection") named = value;
    // An upstream's CORS answer is for its own callers, never a grant to BitRouter's (SPEC §11).
    if (NOT_RETURNED.has(name) || name.startsWith("access-control-")) return;
    if (name === "set-cookie") (cookies ??= []).push(value);
    else out[name] = value;
  });
  if (named) { for (const h of named.split(",")) delete out[h.trim().toLowerCase()]; }
  Object.assign(out, extra);
  if (!cookies) return out;
  const headers = new Headers(out);
  for (const c of cookies) headers.append("set-cookie", c);
  return headers;
}

/** The longest `x-request-id` kept from a client; real ones (UUIDs, trace ids) are far shorter. */
const MAX_REQUEST_ID = 128;

/**
 * A client's `x-request-id` made safe to echo in a header and write to a log (SPEC §11): only
 * printable ASCII is kept — no C0 or C1 controls such as an escape introducer — and at most
 * 128 characters; undefined when nothing is left, so a new id is made.
 */
export function sanitizeRequestId(value: string | null): string | undefined {
  if (!value) return undefined;
  const clean = PRINTABLE.test(value) ? value : value.replace(NOT_PRINTABLE, "");
  return clean.slice(0, MAX_REQUEST_ID).trim() || undefined;
}

const PRINTABLE = /^[\x20-\x7e]*$/;
const NOT_PRINTABLE = /[^\x20-\x7e]/g;

/**
 * Text that may hold any character (a model id such as `llama🦙`) as a header value: printable
 * ASCII as it is, anything else percent-encoded as UTF-8 (with `%` itself, so it decodes back).
 * A header value outside Latin-1 would make the runtime throw after the upstream answered.
 */
export function headerSafe(text: string): string {
  if (PRINTABLE.test(text) && !text.includes("%")) return text;
  return text.replace(/[^\x20-\x24\x26-\x7e]+/g, (run) => encodeURIComponent(run.toWellFormed()));
}
