import type { Provider } from "../config/types.ts";

/**
 * Shorter values are left alone: replacing every `abc` or `1234` in an error text would mangle it
 * while hiding nothing worth a key's name.
 */
const MIN_SECRET_CHARS = 8;

/** What replaces a secret in a message. */
export const REDACTED = "[redacted]";

/** The text with every occurrence of each secret (of 8 characters or more) replaced by `[redacted]`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  for (const secret of secrets) {
    if (secret.length >= MIN_SECRET_CHARS && text.includes(secret)) {
      text = text.replaceAll(secret, REDACTED);
    }
  }
  return text;
}

/**
 * What an upstream's error text may echo of a provider's credentials: its key and its configured
 * header values, and the token of a `Bearer …`-like value, longest first so that a value is hidden
 * whole before a part of it is.
 */
export function providerSecrets(provider: Provider): string[] {
  const secrets = new Set<string>();
  if (provider.apiKey) secrets.add(provider.apiKey);
  for (const value of Object.values(provider.headers)) {
    secrets.add(value);
    const token = value.trim().split(/\s+/).at(-1);
    if (token) secrets.add(token);
  }
  return [...secrets].filter((s) => s.length >= MIN_SECRET_CHARS).sort((a, b) =>
    b.length - a.length
  );
}
