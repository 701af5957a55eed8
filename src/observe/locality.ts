import type { Provider } from "../config/types.ts";
import { catalogEntry } from "../discovery/catalog.ts";

/**
 * Whether a provider runs on the user's own hardware, so its tokens cost nothing unless priced
 * (SPEC §8). In order: the provider's `local: true|false`; a server discovery found (it only
 * probes loopback and the targets the user listed); a built-in local id at its built-in address
 * (`ollama: {}`); else what its api_base's host says — loopback, a private or link-local address
 * (10/8, 172.16/12, 192.168/16, 100.64/10, 169.254/16, fc00::/7, fe80::/10), a single-label name
 * (`gpu-box`) or a `.local`, `.lan`, `.internal`, `.home.arpa` name is local; anything else is
 * hosted.
 */
export function isLocalProvider(provider: Provider): boolean {
  let local = LOCAL.get(provider);
  if (local === undefined) {
    local = provider.local ?? (provider.source === "detected" || provider.kind !== undefined ||
      (catalogEntry(provider.id)?.local === true && provider.source === "built-in") ||
      isLocalAddress(provider.apiBase));
    LOCAL.set(provider, local);
  }
  return local;
}

/** Answers per provider object: a reload or discovery round makes new ones. */
const LOCAL = new WeakMap<Provider, boolean>();

/** Whether a URL's host is loopback, private, link-local or a local-network name. */
export function isLocalAddress(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase().replace(/^\[|\]$/g, "");
  } catch {
    return false;
  }
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 127 || a === 10 || a === 0 || (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127);
  }
  if (host.includes(":")) {
    return host === "::1" || /^f[cd]/.test(host) || /^fe[89ab]/.test(host);
  }
  if (!host.includes(".")) return true;
  return /\.(local|lan|internal|home\.arpa)$/.test(host);
}
