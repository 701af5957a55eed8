import { isLoopback, normalizeOrigin } from "../config/listen.ts";
import type { ServerSettings } from "../config/types.ts";

/**
 * Who may talk to BitRouter from a browser (SPEC §11). A keyless router on loopback trusts the
 * machine, not every web page open on it: a page can send a "simple" cross-origin POST without a
 * preflight (spending the user's hosted keys), and a DNS-rebinding page reaches 127.0.0.1 under
 * its own host name and can read the answers. So a loopback listener answers only loopback host
 * names (or `server.allowed_hosts`), and any request that carries an `Origin` must come from
 * `server.cors_origins` (or from BitRouter's own address).
 */

/** What to do with a request before routing it. */
export type Verdict =
  /** Serve it; `cors` are the headers to add to its answer for an allowed cross-origin caller. */
  | { kind: "serve"; cors?: Record<string, string> }
  /** Answer 403 in the client's envelope. */
  | { kind: "refuse"; code: "forbidden_host" | "forbidden_origin"; message: string }
  /** A CORS preflight from an allowed origin: answer 204 with these headers. */
  | { kind: "preflight"; headers: Record<string, string> };

/** Decides a request's Verdict from its `Host` and `Origin`; built once per config (Hono's way). */
export type Guard = (request: Request) => Verdict;

const SERVE: Verdict = { kind: "serve" };

/** Methods BitRouter's endpoints take, as a preflight answers them. */
const METHODS = "GET, POST, DELETE, OPTIONS";

/** Headers a browser caller may read: BitRouter's own, which say who served and whether to retry. */
const EXPOSED = [
  "x-request-id",
  "x-bitrouter-provider",
  "x-bitrouter-model",
  "x-bitrouter-attempts",
  "x-bitrouter-estimate",
  "x-bitrouter-queued-ms",
  "x-should-retry",
  "retry-after",
].join(", ");

/** The request headers the official SDKs send, allowed when a preflight does not list its own. */
const SDK_HEADERS = [
  "authorization",
  "x-api-key",
  "anthropic-version",
  "anthropic-beta",
  "anthropic-dangerous-direct-browser-access",
  "content-type",
  "x-request-id",
  "openai-organization",
  "openai-project",
  "x-stainless-arch",
  "x-stainless-lang",
  "x-stainless-os",
  "x-stainless-package-version",
  "x-stainless-retry-count",
  "x-stainless-runtime",
  "x-stainless-runtime-version",
  "x-stainless-timeout",
].join(", ");

/** The most distinct `Host` values whose verdict is remembered; past it the memo starts afresh. */
const MEMO_SIZE = 64;

/** Builds the guard for one `server:` block. */
export function createGuard(server: ServerSettings): Guard {
  const hostAllowed = hostMatcher(server);
  const originAllowed = originMatcher(server.corsOrigins);
  const seen = new Map<string, boolean>();
  const hostOk = (host: string) => {
    let ok = seen.get(host);
    if (ok === undefined) {
      ok = hostAllowed(hostnameOf(host));
      if (seen.size >= MEMO_SIZE) seen.clear();
      seen.set(host, ok);
    }
    return ok;
  };

  return (request) => {
    const headers = request.headers;
    const host = headers.get("host");
    if (host !== null && !hostOk(host)) {
      const name = printable(hostnameOf(host));
      return {
        kind: "refuse",
        code: "forbidden_host",
        message:
          `requests addressed to host "${name}" are refused: BitRouter listens on loopback and answers only loopback names such as localhost and 127.0.0.1 (protection against DNS rebinding); to reach it under this name, add "${name}" to server.allowed_hosts`,
      };
    }
    const origin = headers.get("origin");
    if (origin === null) return SERVE;
    const normal = normalizeOrigin(origin);
    // A page BitRouter serves itself (its own address, which passed the Host check) is no stranger.
    if (host !== null && normal === `http://${host.toLowerCase()}`) return SERVE;
    if (normal === undefined || !originAllowed(normal)) {
      return {
        kind: "refuse",
        code: "forbidden_origin",
        message: `requests from the web page origin "${
          printable(origin)
        }" are refused: a page in a browser must not use your models and keys; to let this origin call BitRouter, add "${
          printable(normal ?? origin)
        }" to server.cors_origins`,
      };
    }
    const allow = { "access-control-allow-origin": origin, vary: "Origin" };
    if (request.method === "OPTIONS" && headers.has("access-control-request-method")) {
      const out: Record<string, string> = {
        ...allow,
        "access-control-allow-methods": METHODS,
        "access-control-allow-headers": requestedHeaders(headers) ?? SDK_HEADERS,
        "access-control-max-age": "600",
      };
      // Chrome's Private Network Access: a public page asking to reach a loopback server.
      if (headers.get("access-control-request-private-network") === "true") {
        out["access-control-allow-private-network"] = "true";
      }
      return { kind: "preflight", headers: out };
    }
    return { kind: "serve", cors: { ...allow, "access-control-expose-headers": EXPOSED } };
  };
}

/**
 * Whether a host name may address this listener. On a loopback listener: loopback names and
 * addresses, the listen host, and `allowed_hosts`. On any other listener the check is off unless
 * `allowed_hosts` is set (there, keys guard the API; SPEC §11), since its users reach it by names
 * BitRouter cannot know.
 */
function hostMatcher(server: ServerSettings): (hostname: string) => boolean {
  const patterns = server.allowedHosts;
  if (patterns.includes("*")) return () => true;
  const listen = server.hostname.toLowerCase().replace(/^\[|\]$/g, "");
  if (!isLoopback(listen) && patterns.length === 0) return () => true;
  const exact = new Set(patterns.filter((p) => !p.startsWith("*.")).map(bare));
  const suffixes = patterns.filter((p) => p.startsWith("*.")).map((p) => p.slice(1));
  exact.add(listen);
  return (hostname) =>
    isLoopbackName(hostname) || exact.has(hostname) ||
    suffixes.some((s) => hostname.endsWith(s));
}

/** Whether an origin is in `cors_origins` (`*`: any). */
function originMatcher(origins: string[]): (origin: string) => boolean {
  if (origins.includes("*")) return () => true;
  const set = new Set(origins);
  return (origin) => set.has(origin);
}

/** A loopback name or address: `localhost`, `*.localhost`, 127.0.0.0/8, `::1`, `::ffff:127.x`. */
export function isLoopbackName(hostname: string): boolean {
  return isLoopback(hostname) || hostname.endsWith(".localhost") ||
    /^::ffff:127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** The host name of a `Host` header: lower case, without port, brackets or a trailing dot. */
export function hostnameOf(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end > 0 ? h.slice(1, end) : h;
  }
  const colon = h.lastIndexOf(":");
  return bare(colon >= 0 ? h.slice(0, colon) : h);
}

function bare(name: string): string {
  return name.replace(/\.$/, "").replace(/^\[|\]$/g, "");
}

/** The headers a preflight asks for, when they are plain header names (else the SDK list). */
function requestedHeaders(headers: Headers): string | undefined {
  const asked = headers.get("access-control-request-headers");
  if (!asked || asked.length > 2000) return undefined;
  const names = asked.split(",").map((h) => h.trim().toLowerCase()).filter(Boolean);
  return names.every((n) => /^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(n)) ? names.join(", ") : undefined;
}

/** Client-chosen text quoted in a message: printable ASCII only, and short. */
function printable(text: string): string {
  const t = text.replace(/[^\x20-\x7e]/g, "?");
  return t.length > 100 ? `${t.slice(0, 99)}…` : t;
}
