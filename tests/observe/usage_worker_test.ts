import assert from "node:assert/strict";
import { SqliteUsageBackend } from "../../src/observe/sqlite_store.ts";
import { UsageRecorder, type UsageRow } from "../../src/observe/usage_store.ts";
import { WorkerUsageBackend } from "../../src/observe/worker_store.ts";
import { createLogger } from "../../src/observe/log.ts";

function row(timeMs: number, extra: Partial<UsageRow> = {}): UsageRow {
  return {
    timeMs,
    requestId: `r-${timeMs}`,
    keyLabel: "k-1a2b",
    protocol: "messages",
    model: "smart",
    provider: "cloud",
    upstreamModel: "big",
    local: false,
    status: 200,
    streamed: true,
    attempts: 2,
    queuedMs: 3,
    ttfbMs: 12,
    totalMs: 40,
    inputTokens: 100,
    outputTokens: 20,
    cachedInputTokens: 50,
    cacheWriteTokens: null,
    reasoningTokens: 7,
    costUsd: 0.0004,
    hostedEquivalentModel: null,
    hostedEquivalentUsd: null,
    outcome: null,
    ...extra,
  };
}

function capturingLog() {
  const lines: string[] = [];
  return {
    log: createLogger({ level: "debug", format: "pretty", write: (l) => lines.push(l) }),
    lines,
  };
}

const BROKEN_WORKER = new URL("../fakes/broken_usage_worker.ts", import.meta.url).href;

Deno.test("the writer thread: rows written through it survive a restart, field for field", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/sub/usage.db`;
    const { log } = capturingLog();
    const first = new UsageRecorder({
      open: () => WorkerUsageBackend.open(path),
      log,
      where: path,
      retentionDays: 90,
      batchRows: 2,
    });
    const now = Date.now();
    for (let i = 0; i < 5; i++) first.add(row(now - 5 + i));
    await first.close();
    assert.deepEqual({ written: first.written, lost: first.lost }, { written: 5, lost: 0 });

    // A second run (another worker) appends to the same file.
    const second = new UsageRecorder({
      open: () => WorkerUsageBackend.open(path),
      log,
      where: path,
      retentionDays: 90,
    });
    second.add(row(now, { local: null, inputTokens: null, costUsd: null, outcome: "aborted" }));
    await second.close();
    assert.equal(second.written, 1);

    const read = await SqliteUsageBackend.openToRead(path);
    const rows = await read.rows(0);
    await read.close();
    assert.equal(rows.length, 6);
    assert.deepEqual(rows[0], row(now - 5));
    assert.deepEqual(
      rows[5],
      row(now, { local: null, inputTokens: null, costUsd: null, outcome: "aborted" }),
    );

    // Reads and pruning go through the worker too.
    const viaWorker = await WorkerUsageBackend.open(path);
    assert.deepEqual(await viaWorker.rows(0), rows);
    assert.equal(await viaWorker.prune(now - 2), 3);
    assert.equal((await viaWorker.rows(0)).length, 3);
    await viaWorker.close();
    assert.equal(viaWorker.broken, true, "ended after close");
    await assert.rejects(() => viaWorker.insert([row(now)]), /closed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a writer thread that cannot open the path: rows are lost and counted, logged once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Under a regular file: nobody, root included, can create it.
    await Deno.writeTextFile(`${dir}/not-a-dir`, "");
    const path = `${dir}/not-a-dir/usage.db`;
    await assert.rejects(() => WorkerUsageBackend.open(path), /not-a-dir|Not a directory/i);
    const { log, lines } = capturingLog();
    const recorder = new UsageRecorder({
      open: () => WorkerUsageBackend.open(path),
      log,
      where: path,
      retentionDays: 90,
    });
    for (let i = 0; i < 4; i++) recorder.add(row(i));
    await recorder.flush();
    assert.equal(recorder.lost, 4);
    recorder.add(row(5));
    await recorder.close();
    assert.deepEqual({ written: recorder.written, lost: recorder.lost }, { written: 0, lost: 5 });
    const errors = lines.filter((l) => l.includes("cannot be written"));
    assert.equal(errors.length, 1, lines.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a writer thread that dies: its batch is lost (counted), a fresh worker writes the next", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/usage.db`;
    const { log, lines } = capturingLog();
    let opens = 0;
    const recorder = new UsageRecorder({
      // The first worker crashes at its first write; the next one is the real writer.
      open: () =>
        opens++ === 0
          ? WorkerUsageBackend.open("die", { workerUrl: BROKEN_WORKER })
          : WorkerUsageBackend.open(path),
      log,
      where: path,
      retentionDays: 90,
      reopenMs: 0,
    });
    const now = Date.now();
    recorder.add(row(now - 2));
    recorder.add(row(now - 1));
    await recorder.flush();
    // Whether a batch reached the file before its writer died is unknown: lost, never doubled.
    assert.deepEqual({ written: recorder.written, lost: recorder.lost }, { written: 0, lost: 2 });
    assert.ok(lines.some((l) => /writer thread failed: .*crashed/.test(l)), lines.join("\n"));
    recorder.add(row(now));
    await recorder.flush();
    assert.equal(opens, 2);
    assert.deepEqual({ written: recorder.written, lost: recorder.lost }, { written: 1, lost: 2 });
    assert.ok(lines.some((l) => l.includes("writing again")), lines.join("\n"));
    await recorder.close();
    const read = await SqliteUsageBackend.openToRead(path);
    assert.deepEqual((await read.rows(0)).map((r) => r.timeMs), [now]);
    await read.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a writer thread that hangs: the wait is bounded, and close counts the rows as lost", async () => {
  const { log, lines } = capturingLog();
  const recorder = new UsageRecorder({
    open: () => WorkerUsageBackend.open("hang", { workerUrl: BROKEN_WORKER, answerMs: 200 }),
    log,
    where: "hang",
    retentionDays: 90,
    reopenMs: 60_000,
  });
  recorder.add(row(1));
  const started = performance.now();
  await recorder.close();
  assert.ok(performance.now() - started < 2_000, "close does not wait for a hung writer");
  assert.deepEqual({ written: recorder.written, lost: recorder.lost }, { written: 0, lost: 1 });
  assert.ok(lines.some((l) => l.includes("did not answer within 200 ms")), lines.join("\n"));
});

Deno.test("deno compile embeds the writer thread: the compile task and release.yml both --include it", async () => {
  // deno compile does not follow `new Worker(…)`: without --include the binary cannot start it.
  const root = new URL("../../", import.meta.url);
  const worker = "src/observe/usage_worker.ts";
  await Deno.stat(new URL(worker, root));
  const source = await Deno.readTextFile(new URL("src/observe/worker_store.ts", root));
  assert.match(source, /new URL\("\.\/usage_worker\.ts", import\.meta\.url\)/);
  const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).tasks;
  assert.ok(tasks.compile.includes(`--include ${worker}`), tasks.compile);
  const release = await Deno.readTextFile(new URL(".github/workflows/release.yml", root));
  const step = release.slice(
    release.indexOf("deno compile"),
    release.indexOf("main.ts", release.indexOf("deno compile")),
  );
  assert.ok(step.includes(`--include ${worker}`), step);
});
