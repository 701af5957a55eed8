const encoder = new TextEncoder();

/** Compares two secrets in time that depends only on the presented one's length. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ (y[i % Math.max(y.length, 1)] ?? 0);
  return diff === 0;
}

/**
 * The key a client presented: `Authorization: Bearer <key>`, `x-api-key`, or Google's
 * `x-goog-api-key` and `?key=` (what Gemini's clients send; `url` only where Gemini's API is).
 */
export function presentedKey(headers: Headers, url?: URL): string | undefined {
  const auth = headers.get("authorization");
  if (auth) {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1].trim();
  }
  return headers.get("x-api-key")?.trim() || headers.get("x-goog-api-key")?.trim() ||
    url?.searchParams.get("key")?.trim() || undefined;
}

/** Whether a request carries one of the configured keys; checks every key so timing does not tell which. */
export function isAuthorized(headers: Headers, keys: string[], url?: URL): boolean {
  const key = presentedKey(headers, url);
  if (key === undefined) return false;
  let ok = false;
  for (const k of keys) ok = constantTimeEqual(key, k) || ok;
  return ok;
}

/**
 * A name for the client key a request presented, safe to log and store: its last four characters
 * (`…x7Qa`), as hosted dashboards show keys; a key too short to show any of is `key N`, its place
 * in server.api_keys. Undefined when no configured key matches.
 */
export function keyLabel(headers: Headers, keys: string[], url?: URL): string | undefined {
  const key = presentedKey(headers, url);
  if (key === undefined) return undefined;
  const at = keys.indexOf(key);
  if (at < 0) return undefined;
  return key.length >= 16 ? `…${key.slice(-4)}` : `key ${at + 1}`;
}
