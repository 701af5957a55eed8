import type { Provider } from "../config/types.ts";
import type { ServerStatus } from "../proxy/routes/info.ts";

/**
 * One endpoint's capacity as `bitrouter providers` and `bitrouter route` show it (SPEC §3.5): in
 * flight / cap and rate windows from the running server when one answers, else what the config
 * sets; `-` when nothing limits it.
 */
export function capacityText(p: Provider, live: ServerStatus | undefined): string {
  const parts: string[] = [];
  const now = live?.capacity?.endpoints.find((e) => e.provider === p.id);
  const cap = p.maxConcurrent ?? p.reportedSlots;
  if (now) {
    parts.push(`${now.in_flight}/${now.max_concurrent ?? "∞"} in flight`);
    for (const w of now.rate_limits ?? []) {
      if (w.requests_per_minute !== null) {
        parts.push(`${w.pattern} ${w.requests}/${w.requests_per_minute} rpm`);
      }
      if (w.tokens_per_minute !== null) {
        parts.push(`${w.pattern} ${w.tokens}/${w.tokens_per_minute} tpm`);
      }
    }
  } else {
    if (cap !== undefined) {
      parts.push(
        `max ${cap}${p.maxConcurrent === undefined ? " (reported by the server)" : ""}`,
      );
    }
    for (const r of p.rateLimits ?? []) {
      if (r.requestsPerMinute !== undefined) parts.push(`${r.pattern} ${r.requestsPerMinute} rpm`);
      if (r.tokensPerMinute !== undefined) parts.push(`${r.pattern} ${r.tokensPerMinute} tpm`);
    }
  }
  for (const [model, n] of Object.entries(p.modelMaxConcurrent ?? {})) {
    parts.push(`${model} max ${n}`);
  }
  if (p.accounts) {
    parts.push(`accounts ${p.accounts.map((a) => a.label).join(", ")} (${p.accountStrategy})`);
  }
  if (live?.capacity?.queued) parts.push(`${live.capacity.queued} queued`);
  return parts.join(", ") || "-";
}
