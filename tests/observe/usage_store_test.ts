import { usageRow } from "./usage_rows.ts";
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SCHEMA_VERSION, SqliteUsageBackend } from "../../src/observe/sqlite_store.ts";
import { UsageRecorder } from "../../src/observe/usage_store.ts";
import { createLogger } from "../../src/observe/log.ts";

const row = usageRow;

function capturingLog() {
  const lines: string[] = [];
  return {
    log: createLogger({ level: "debug", format: "pretty", write: (l) => lines.push(l) }),
    lines,
  };
}

Deno.test("rows survive a restart, unknown counts stay null, and the schema is versioned", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/sub/usage.db`;
    const { log } = capturingLog();
    const first = new UsageRecorder({
      open: () => SqliteUsageBackend.open(path),
      log,
      where: path,
      retentionDays: 90,
    });
    first.add(row(Date.now() - 1000));
    first.add(
      row(Date.now(), { inputTokens: null, outputTokens: null, costUsd: null, local: false }),
    );
    await first.close();
    assert.equal(first.written, 2);
    assert.equal(first.lost, 0);

    const again = await SqliteUsageBackend.openToRead(path);
    const rows = await again.rows(0);
    await again.close();
    assert.equal(rows.length, 2);
    assert.deepEqual(rows[0], row(rows[0].timeMs));
    assert.equal(rows[1].inputTokens, null);
    assert.equal(rows[1].costUsd, null);
    assert.equal(rows[1].local, false);

    // Opening for writing again keeps the rows and migrates nothing twice.
    const reopened = await SqliteUsageBackend.open(path);
    await reopened.insert([row(Date.now())]);
    assert.equal((await reopened.rows(0)).length, 3);
    await reopened.close();
    const db = new DatabaseSync(path, { readOnly: true });
    const versions = db.prepare("SELECT version FROM schema_version").all();
    db.close();
    assert.deepEqual(versions.map((v) => v.version), [SCHEMA_VERSION]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a database from a newer BitRouter is refused with what to do", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/usage.db`;
    const db = new DatabaseSync(path);
    db.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)");
    db.exec(`INSERT INTO schema_version VALUES (${SCHEMA_VERSION + 1})`);
    db.close();
    await assert.rejects(() => SqliteUsageBackend.open(path), /upgrade BitRouter/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("retention: rows older than retention_days are pruned on a flush", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/usage.db`;
    const now = Date.UTC(2026, 5, 1);
    const seed = await SqliteUsageBackend.open(path);
    await seed.insert([row(now - 40 * 86_400_000), row(now - 29 * 86_400_000)]);
    await seed.close();
    const { log } = capturingLog();
    const recorder = new UsageRecorder({
      open: () => SqliteUsageBackend.open(path),
      log,
      where: path,
      retentionDays: 30,
      now: () => now,
    });
    recorder.add(row(now));
    await recorder.close();
    const read = await SqliteUsageBackend.openToRead(path);
    const left = (await read.rows(0)).map((r) => r.timeMs);
    await read.close();
    assert.deepEqual(left, [now - 29 * 86_400_000, now]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a store that cannot be opened loses rows, counts them and logs once; add never throws", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A path under a regular file: no one, root included, can create it (a read-only mount
    // behaves the same for the store: opening throws).
    await Deno.writeTextFile(`${dir}/not-a-dir`, "");
    const path = `${dir}/not-a-dir/usage.db`;
    const { log, lines } = capturingLog();
    const recorder = new UsageRecorder({
      open: () => SqliteUsageBackend.open(path),
      log,
      where: path,
      retentionDays: 90,
      maxQueuedRows: 3,
    });
    for (let i = 0; i < 5; i++) recorder.add(row(i));
    assert.equal(recorder.lost, 2, "past the bound, at once");
    await recorder.flush();
    assert.equal(recorder.lost, 5, "the store cannot be opened: what waited is lost");
    recorder.add(row(6));
    await recorder.flush();
    await recorder.close();
    assert.equal(recorder.lost, 6);
    assert.equal(recorder.written, 0);
    const errors = lines.filter((l) => l.includes("cannot be written"));
    assert.equal(errors.length, 1, lines.join("\n"));
    assert.match(errors[0], /database\.url|usage: false/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a locked database delays rows instead of losing them, and writing resumes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/usage.db`;
    (await SqliteUsageBackend.open(path)).close();
    const locker = new DatabaseSync(path);
    locker.exec("BEGIN EXCLUSIVE");
    const { log, lines } = capturingLog();
    const recorder = new UsageRecorder({
      open: () => SqliteUsageBackend.open(path),
      log,
      where: path,
      retentionDays: 90,
    });
    recorder.add(row(1));
    await recorder.flush();
    assert.equal(recorder.written, 0);
    assert.equal(recorder.lost, 0);
    locker.exec("COMMIT");
    locker.close();
    await recorder.flush();
    assert.equal(recorder.written, 1);
    await recorder.close();
    assert.ok(lines.some((l) => l.includes("writing again")), lines.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
