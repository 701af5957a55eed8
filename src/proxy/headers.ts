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

/** The headers sent upstream (SPEC §5): the client's minus credentials and hop-by-hop, plus the provider's. */
export function upstreamHeaders(
  client: Headers,
  provider: Provider,
  protocol: Protocol,
  requestId: string,
): Headers {
  const out = new Headers();
  for (const [name, value] of client) {
    if (NOT_FORWARDED.has(name)) continue;
    if (name === "anthropic-beta" && protocol !== "messages") continue;
    out.set(name, value);
  }
  stripHopByHop(out);
  out.set("x-request-id", requestId);
  if (!out.has("content-type")) out.set("content-type", "application/json");
  for (const [name, value] of Object.entries(provider.headers)) out.set(name, value);
  if (protocol === "messages") {
    // Every Messages server wants a version, keyed or not (a local server speaking Messages too).
    out.set("anthropic-version", client.get("anthropic-version") ?? "2023-06-01");
    if (provider.apiKey) out.set("x-api-key", provider.apiKey);
  } else if (provider.apiKey) out.set("authorization", `Bearer ${provider.apiKey}`);
  return out;
}

/** The headers sent back to the client: the upstream's minus hop-by-hop and what fetch already undid. */
export function clientHeaders(upstream: Headers): Headers {
  const out = new Headers(upstream);
  stripHopByHop(out);
  out.delete("content-length");
  out.delete("content-encoding");
  return out;
}
