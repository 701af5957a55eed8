import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { UsageBackend, UsageBucket, UsageRow } from "./usage_store.ts";

/**
 * Forward-only migrations: entry i takes the schema from version i to i+1. Never edit one that
 * has shipped; add the next.
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    key_label TEXT,
    protocol TEXT NOT NULL,
    model TEXT,
    provider TEXT,
    upstream_model TEXT,
    local INTEGER,
    status INTEGER NOT NULL,
    streamed INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    queued_ms INTEGER,
    ttfb_ms INTEGER,
    total_ms INTEGER NOT NULL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cached_input_tokens INTEGER,
    cache_write_tokens INTEGER,
    reasoning_tokens INTEGER,
    cost_usd REAL,
    hosted_equivalent_model TEXT,
    hosted_equivalent_usd REAL,
    outcome TEXT
  );
  CREATE INDEX requests_time ON requests (time_ms);`,
];

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

const COLUMNS = [
  "time_ms",
  "request_id",
  "key_label",
  "protocol",
  "model",
  "provider",
  "upstream_model",
  "local",
  "status",
  "streamed",
  "attempts",
  "queued_ms",
  "ttfb_ms",
  "total_ms",
  "input_tokens",
  "output_tokens",
  "cached_input_tokens",
  "cache_write_tokens",
  "reasoning_tokens",
  "cost_usd",
  "hosted_equivalent_model",
  "hosted_equivalent_usd",
  "outcome",
] as const;

type SqlValue = string | number | null;

function toSql(r: UsageRow): SqlValue[] {
  return [
    r.timeMs,
    r.requestId,
    r.keyLabel,
    r.protocol,
    r.model,
    r.provider,
    r.upstreamModel,
    r.local === null ? null : r.local ? 1 : 0,
    r.status,
    r.streamed ? 1 : 0,
    r.attempts,
    r.queuedMs,
    r.ttfbMs,
    r.totalMs,
    r.inputTokens,
    r.outputTokens,
    r.cachedInputTokens,
    r.cacheWriteTokens,
    r.reasoningTokens,
    r.costUsd,
    r.hostedEquivalentModel,
    r.hostedEquivalentUsd,
    r.outcome,
  ];
}

function fromSql(o: Record<string, SqlValue>): UsageRow {
  const n = (v: SqlValue) => (v === null ? null : Number(v));
  const s = (v: SqlValue) => (v === null ? null : String(v));
  return {
    timeMs: Number(o.time_ms),
    requestId: String(o.request_id),
    keyLabel: s(o.key_label),
    protocol: String(o.protocol),
    model: s(o.model),
    provider: s(o.provider),
    upstreamModel: s(o.upstream_model),
    local: o.local === null ? null : Number(o.local) === 1,
    status: Number(o.status),
    streamed: Number(o.streamed) === 1,
    attempts: Number(o.attempts),
    queuedMs: n(o.queued_ms),
    ttfbMs: n(o.ttfb_ms),
    totalMs: Number(o.total_ms),
    inputTokens: n(o.input_tokens),
    outputTokens: n(o.output_tokens),
    cachedInputTokens: n(o.cached_input_tokens),
    cacheWriteTokens: n(o.cache_write_tokens),
    reasoningTokens: n(o.reasoning_tokens),
    costUsd: n(o.cost_usd),
    hostedEquivalentModel: s(o.hosted_equivalent_model),
    hostedEquivalentUsd: n(o.hosted_equivalent_usd),
    outcome: s(o.outcome),
  };
}

/** Brings a database to SCHEMA_VERSION; refuses one written by a newer BitRouter. */
function migrate(db: DatabaseSync, path: string): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = db.prepare("SELECT max(version) AS v FROM schema_version").get() as
    | { v: number | null }
    | undefined;
  const current = Number(row?.v ?? 0);
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `${path} has usage schema version ${current}, newer than this BitRouter's ${SCHEMA_VERSION}; upgrade BitRouter or point database.url at another file`,
    );
  }
  for (let v = current; v < SCHEMA_VERSION; v++) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(MIGRATIONS[v]);
      db.prepare("INSERT INTO schema_version (version) VALUES (?)").run(v + 1);
      db.exec("COMMIT");
    } catch (e) {
      db.exec("ROLLBACK");
      throw e;
    }
  }
}

/** A usage store in one SQLite file through `node:sqlite` (no native add-on; works compiled). */
export class SqliteUsageBackend implements UsageBackend {
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync | undefined;

  private constructor(db: DatabaseSync, writable: boolean) {
    this.#db = db;
    this.#insert = writable
      ? db.prepare(
        `INSERT INTO requests (${COLUMNS.join(", ")}) VALUES (${
          COLUMNS.map(() => "?").join(", ")
        })`,
      )
      : undefined;
  }

  /**
   * Opens (creating the file and its folder, and migrating) the store for writing. A locked
   * database waits at most 100 ms, so a flush never stalls the event loop for long.
   */
  static async open(path: string): Promise<SqliteUsageBackend> {
    if (path !== ":memory:") {
      const dir = path.slice(0, Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")));
      if (dir) await Deno.mkdir(dir, { recursive: true });
    }
    const db = new DatabaseSync(path, { timeout: 100 });
    try {
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      migrate(db, path);
      return new SqliteUsageBackend(db, true);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** Opens an existing store to read (`bitrouter usage`); throws Deno.errors.NotFound when absent. */
  static async openToRead(path: string): Promise<SqliteUsageBackend> {
    await Deno.stat(path);
    const db = new DatabaseSync(path, { readOnly: true, timeout: 1000 });
    try {
      const version = db.prepare("SELECT max(version) AS v FROM schema_version").get() as
        | { v: number | null }
        | undefined;
      if (Number(version?.v ?? 0) > SCHEMA_VERSION) {
        throw new Error(
          `${path} has a usage schema newer than this BitRouter's (${SCHEMA_VERSION}); upgrade BitRouter`,
        );
      }
      return new SqliteUsageBackend(db, false);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  insert(rows: UsageRow[]): Promise<void> {
    const insert = this.#insert;
    if (!insert) return Promise.reject(new Error("the usage store was opened read-only"));
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const r of rows) insert.run(...toSql(r));
      this.#db.exec("COMMIT");
    } catch (e) {
      try {
        this.#db.exec("ROLLBACK");
      } catch { /* already rolled back */ }
      return Promise.reject(e);
    }
    return Promise.resolve();
  }

  rows(sinceMs: number): Promise<UsageRow[]> {
    const all = this.#db.prepare(
      `SELECT ${COLUMNS.join(", ")} FROM requests WHERE time_ms >= ? ORDER BY time_ms, id`,
    ).all(sinceMs) as Record<string, SqlValue>[];
    return Promise.resolve(all.map(fromSql));
  }

  series(sinceMs: number, untilMs: number, bucketMs: number): Promise<UsageBucket[]> {
    const size = Math.max(1, Math.floor(bucketMs));
    const all = this.#db.prepare(
      `SELECT (CAST(time_ms AS INTEGER) / CAST(? AS INTEGER)) * CAST(? AS INTEGER) AS start_ms,
        count(*) AS requests,
        sum(CASE WHEN local = 1 THEN coalesce(input_tokens, 0) + coalesce(output_tokens, 0)
          ELSE 0 END) AS local_tokens,
        sum(CASE WHEN local = 0 THEN coalesce(input_tokens, 0) + coalesce(output_tokens, 0)
          ELSE 0 END) AS hosted_tokens,
        sum(CASE WHEN local = 0 THEN coalesce(cost_usd, 0) ELSE 0 END) AS hosted_cost_usd,
        sum(CASE WHEN local = 1 THEN coalesce(hosted_equivalent_usd, 0) ELSE 0 END) AS saved_usd
      FROM requests WHERE time_ms >= ? AND time_ms < ? GROUP BY start_ms ORDER BY start_ms`,
    ).all(size, size, sinceMs, untilMs) as Record<string, SqlValue>[];
    return Promise.resolve(all.map((o) => ({
      startMs: Number(o.start_ms),
      requests: Number(o.requests),
      localTokens: Number(o.local_tokens ?? 0),
      hostedTokens: Number(o.hosted_tokens ?? 0),
      hostedCostUsd: Number(o.hosted_cost_usd ?? 0),
      savedUsd: Number(o.saved_usd ?? 0),
    })));
  }

  prune(beforeMs: number): Promise<number> {
    const result = this.#db.prepare("DELETE FROM requests WHERE time_ms < ?").run(beforeMs);
    return Promise.resolve(Number(result.changes));
  }

  close(): Promise<void> {
    this.#db.close();
    return Promise.resolve();
  }
}
