const encoder = new TextEncoder();

/** Compares two secrets in time that depends only on the presented one's length. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ (y[i % Math.max(y.length, 1)] ?? 0);
  return diff === 0;
}

/** The key a client presented: `Authorization: Bearer <key>` or `x-api-key`. */
export function presentedKey(headers: Headers): string | undefined {
  const auth = headers.get("authorization");
  if (auth) {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1].trim();
  }
  return headers.get("x-api-key")?.trim() || undefined;
}

/** Whether a request carries one of the configured keys; checks every key so timing does not tell which. */
export function isAuthorized(headers: Headers, keys: string[]): boolean {
  const key = presentedKey(headers);
  if (key === undefined) return false;
  let ok = false;
  for (const k of keys) ok = constantTimeEqual(key, k) || ok;
  return ok;
}
