import { errorText } from "./probe.ts";

/**
 * Wraps the fetch the proxy forwards with, so that a request that cannot reach its server marks
 * that server down (SPEC §7) without the proxy knowing about discovery. Only failures that say
 * the server is not there count: refused, DNS, or no TCP connection within `connect_secs` (the
 * proxy aborts with a reason whose `limit` is `"connect"`). A status, a slow answer or a client
 * that left says nothing about the server being down.
 */
export function reportingFetch(
  fetchFn: typeof fetch,
  onUnreachable: (url: string, reason: string) => void,
): typeof fetch {
  return (input, init) => {
    const pending = fetchFn(input, init);
    // A side branch: the caller still gets (and handles) the original promise.
    pending.catch((e) => {
      const reason = unreachable(e, init?.signal);
      if (reason) onUnreachable(urlOf(input), reason);
    });
    return pending;
  };
}

function urlOf(input: RequestInfo | URL): string {
  return typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
}

/** Why the server is unreachable, or undefined when the failure says nothing about that. */
function unreachable(e: unknown, signal: AbortSignal | null | undefined): string | undefined {
  if (signal?.aborted) {
    const limit = (signal.reason as { limit?: unknown } | undefined)?.limit;
    return limit === "connect" ? "no TCP connection within connect_secs" : undefined;
  }
  const message = errorText(e);
  if (/connection refused/i.test(message)) return "connection refused";
  if (/dns error|failed to lookup|name or service not known|no such host/i.test(message)) {
    return "DNS lookup failed";
  }
  return undefined;
}
