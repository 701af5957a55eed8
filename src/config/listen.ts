/** A parsed `host:port`. */
export interface ListenAddress {
  hostname: string;
  port: number;
}

/** Parses `host:port`, `[v6]:port` or `:port` (loopback); undefined when it is not one. */
export function parseListen(text: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const hostname = m[1] ?? (m[2] || "127.0.0.1");
  return { hostname, port };
}

/** True when the address is reachable only from this machine. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** `host:port` for display, with brackets around IPv6 hosts. */
export function formatListen(a: ListenAddress): string {
  return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
}

/**
 * An origin as browsers send it in `Origin` (`scheme://host[:port]`, lower case, a default port
 * dropped; also `app://obsidian.md`-style origins of desktop apps, and `null`), or undefined when
 * the text is not a bare origin (it has a path, query or credentials).
 */
export function normalizeOrigin(text: string): string | undefined {
  const t = text.trim().toLowerCase();
  if (t === "null") return t;
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#@\s]+)\/?$/.exec(t);
  if (!m) return undefined;
  const [, scheme, host] = m;
  if (scheme === "http" || scheme === "https") {
    try {
      return new URL(`${scheme}://${host}`).origin;
    } catch {
      return undefined;
    }
  }
  return `${scheme}://${host}`;
}
