import type { LogLevel } from "../config/types.ts";
import type { Usage } from "./usage.ts";

/** What one finished request logs (SPEC §8); never prompt text or secrets. */
export interface RequestRecord {
  requestId: string;
  protocol: string;
  model?: string;
  provider?: string;
  upstreamModel?: string;
  attempts: number;
  status: number;
  streamed: boolean;
  ttfbMs?: number;
  totalMs: number;
  /** Milliseconds spent waiting for a free slot (SPEC §3.5), when the request waited. */
  queuedMs?: number;
  /** How the body ended when it did not end cleanly: `client_gone`, `idle_timeout`, … */
  outcome?: string;
  error?: string;
  /** Tokens the upstream reported; absent when it reported none (unknown, never 0). */
  usage?: Usage;
  /** Cost in USD (0 on a local server); absent when unknown (observe/record.ts fills it in). */
  costUsd?: number;
  /** Whether a local server served it (observe/locality.ts). */
  local?: boolean;
  /** Which client key, as a fingerprint, when auth is on. */
  keyLabel?: string;
}

/** Structured logging to one sink; lines below the level are dropped before they are built. */
export interface Logger {
  readonly level: LogLevel;
  /** Changes the level from the next line on (a reload's `server.log_level`). */
  setLevel(level: LogLevel): void;
  error(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
  request(r: RequestRecord): void;
}

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** A logger writing pretty or JSON lines through `write` (stderr in the CLI). */
export function createLogger(options: {
  level: LogLevel;
  format: "pretty" | "json";
  write: (line: string) => void;
  now?: () => Date;
}): Logger {
  const now = options.now ?? (() => new Date());
  let rank = RANK[options.level];
  const emit = (level: LogLevel, message: string, fields: Record<string, unknown> = {}) => {
    if (RANK[level] > rank) return;
    if (options.format === "json") {
      options.write(JSON.stringify({ time: now().toISOString(), level, message, ...fields }));
      return;
    }
    const extra = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`)
      .join(" ");
    // Model names, ids and errors are others' text: a terminal or journal gets no control
    // character from them (JSON output escapes them already).
    options.write(
      printable(
        `${now().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}${
          extra ? " " + extra : ""
        }`,
      ),
    );
  };
  const logger: Logger = {
    level: options.level,
    setLevel(level) {
      rank = RANK[level];
      (logger as { level: LogLevel }).level = level;
    },
    error: (m, f) => emit("error", m, f),
    warn: (m, f) => emit("warn", m, f),
    info: (m, f) => emit("info", m, f),
    debug: (m, f) => emit("debug", m, f),
    request: (r) => {
      // A failed request (5xx) is a warning, so `log_level: warn` still shows it.
      const level = r.status >= 500 ? "warn" : "info";
      if (RANK[level] > rank) return;
      const served = r.provider ? `${r.provider}:${r.upstreamModel}` : "-";
      emit(level, `${r.protocol} ${r.model ?? "-"} -> ${served}`, {
        id: r.requestId,
        status: r.status,
        attempts: r.attempts,
        stream: r.streamed,
        queued_ms: r.queuedMs,
        ttfb_ms: r.ttfbMs,
        total_ms: r.totalMs,
        // Served but not reported: null, so the line says "unknown" rather than leaving it out.
        tokens_in: r.provider ? r.usage?.input ?? null : undefined,
        tokens_out: r.provider ? r.usage?.output ?? null : undefined,
        tokens_cached: r.usage?.cachedInput ?? undefined,
        tokens_reasoning: r.usage?.reasoning ?? undefined,
        cost_usd: r.provider ? r.costUsd ?? null : undefined,
        outcome: r.outcome,
        error: r.error,
      });
    },
  };
  return logger;
}

/** A logger that drops everything, for tests and benchmarks. */
export const silentLogger: Logger = createLogger({
  level: "error",
  format: "json",
  write: () => {},
});

/** Text with control characters (C0, DEL, C1) shown escaped, as `\x1b`: safe for a terminal. */
export function printable(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex -- matching control characters is the point
    /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}
