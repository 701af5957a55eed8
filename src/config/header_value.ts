/**
 * Whether fetch can send this text as a header value: no line break or other control character
 * inside (surrounding whitespace is trimmed) and nothing beyond U+00FF. Fetch rejects anything
 * else with an error quoting the whole value — a key included — which would then reach logs,
 * clients and the status endpoint; so such a key is refused before it is ever sent.
 */
export function isHeaderSafe(text: string): boolean {
  return !UNSENDABLE.test(text.trim());
}

// deno-lint-ignore no-control-regex
const UNSENDABLE = /[\u0000-\u0008\u000a-\u001f\u007f\u0100-\uffff]/;

/** Why a key from an environment variable is not used (shown by `providers` and `route`). */
export function unsendableKeyReason(variable: string): string {
  return `${variable} holds a line break, another control character or a character beyond U+00FF, which cannot be sent in an HTTP header`;
}
