/**
 * The dashboard's usage sums (issue 17): summed per hour and day in SQLite (through the worker,
 * as serve runs it), made dense for the charts, cached; and the ring of recent requests.
 */
import { usageRow } from "./usage_rows.ts";
import assert from "node:assert/strict";
import { SqliteUsageBackend } from "../../src/observe/sqlite_store.ts";
import { WorkerUsageBackend } from "../../src/observe/worker_store.ts";
import { UsageRecorder, type UsageRow } from "../../src/observe/usage_store.ts";
import { UsageOverviewCache, usageOverviewOf } from "../../src/observe/usage_series.ts";
import { RecentRequests } from "../../src/observe/recent_requests.ts";
import { type RequestRecord, silentLogger } from "../../src/observe/log.ts";
import { until } from "../e2e/helpers.ts";

const HOUR = 3_600_000;
const DAY = 86_400_000;

function row(timeMs: number, extra: Partial<UsageRow> = {}): UsageRow {
  return usageRow(timeMs, { model: "m", upstreamModel: "m", hostedEquivalentUsd: 0.25, ...extra });
}

const hosted = { local: false, provider: "openai", costUsd: 0.5, hostedEquivalentUsd: null };

Deno.test("series sums local and hosted tokens, hosted cost and savings per bucket, in SQL", async () => {
  const store = await SqliteUsageBackend.open(":memory:");
  try {
    const now = Date.UTC(2026, 0, 10, 15, 30);
    const hour = Math.floor(now / HOUR) * HOUR;
    await store.insert([
      row(hour + 1),
      row(hour + 2, { inputTokens: null }), // unknown input: only the output counts
      row(hour + 3, hosted),
      row(hour - HOUR, hosted),
      row(hour - 2 * DAY),
      row(hour + 4, { local: null, provider: null, inputTokens: null, outputTokens: null }),
    ]);
    const hours = await store.series(hour - 23 * HOUR, hour + HOUR, HOUR);
    assert.deepEqual(hours, [
      {
        startMs: hour - HOUR,
        requests: 1,
        localTokens: 0,
        hostedTokens: 15,
        hostedCostUsd: 0.5,
        savedUsd: 0,
      },
      {
        startMs: hour,
        requests: 4,
        localTokens: 20,
        hostedTokens: 15,
        hostedCostUsd: 0.5,
        savedUsd: 0.5,
      },
    ]);
    assert.deepEqual(
      await store.series(hour - HOUR, hour, HOUR),
      [hours[0]],
      "a bucket's rows only: nothing at or after untilMs",
    );
    const overview = usageOverviewOf(hours, await store.series(0, hour + HOUR, DAY), now);
    assert.equal(overview.hourly.length, 24);
    assert.equal(overview.daily.length, 30);
    assert.equal(overview.hourly[23].start, new Date(hour).toISOString());
    assert.equal(overview.hourly[23].local_tokens, 20);
    assert.equal(overview.hourly[22].hosted_tokens, 15);
    assert.equal(overview.hourly[0].requests, 0);
    assert.deepEqual(overview.today, {
      requests: 5,
      local_tokens: 20,
      hosted_tokens: 30,
      hosted_cost_usd: 1,
      saved_usd: 0.5,
    });
    assert.equal(overview.week.local_tokens, 35, "the row two days back is in the week");
    assert.equal(overview.daily[27].local_tokens, 15);
  } finally {
    await store.close();
  }
});

Deno.test("the recorder sums through the worker, including rows not yet flushed", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/usage.db`;
  const recorder = new UsageRecorder({
    open: () => WorkerUsageBackend.open(path),
    log: silentLogger,
    where: path,
    retentionDays: 90,
    flushMs: 60_000,
  });
  try {
    const now = Date.now();
    recorder.add(row(now));
    recorder.add(row(now, hosted));
    const buckets = await recorder.series(now - HOUR, now + 1, HOUR);
    assert.equal(buckets?.length, 1);
    assert.equal(buckets![0].localTokens, 15);
    assert.equal(buckets![0].hostedTokens, 15);
  } finally {
    await recorder.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the overview reads one bucket per query, keeps finished ones, and a slow first read says pending", async () => {
  const reads: { since: number; until: number; size: number }[] = [];
  let clock = Date.UTC(2026, 0, 10, 15, 30);
  const gate = Promise.withResolvers<void>();
  const cache = new UsageOverviewCache(
    async (since, until, size) => {
      reads.push({ since, until, size });
      await gate.promise;
      // One local request of 3 tokens in every bucket asked for.
      return [{
        startMs: since,
        requests: 1,
        localTokens: 3,
        hostedTokens: 0,
        hostedCostUsd: 0,
        savedUsd: 0,
      }];
    },
    () => clock,
    3_000,
    10,
  );
  const first = await cache.get();
  assert.equal(first?.pending, true);
  gate.resolve();
  await until(() => reads.length === 53, 2_000, "the first fill");
  await new Promise((r) => setTimeout(r, 0));
  // The current hour, the 23 finished hours before it, the 29 days before today: each alone.
  for (const r of reads) assert.equal(r.until - r.since, r.size, "one bucket per query");
  assert.equal(reads.filter((r) => r.size === HOUR).length, 24);
  assert.equal(reads.filter((r) => r.size === DAY).length, 29);
  const second = await cache.get();
  assert.equal(second?.pending, undefined);
  assert.equal(second?.hourly.every((h) => h.local_tokens === 3), true);
  assert.equal(second?.daily[0].local_tokens, 3, "the oldest day");
  assert.equal(second?.daily[29].local_tokens, 16 * 3, "today: the sum of its 16 hours");
  assert.equal(second?.today.requests, 16);
  await cache.get();
  assert.equal(reads.length, 53, "cached within the ttl");
  clock += 3_500;
  const stale = await cache.get();
  assert.equal(stale, second, "a stale answer is served while the next is read");
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(reads.length, 54, "a refresh reads the current hour only");
  clock += 3_600_000;
  await cache.get();
  await until(() => reads.length === 54 + 53, 2_000, "the refill");
  assert.equal(reads.length, 54 + 53, "finished buckets are read again after an hour");
});

Deno.test("a bucket read just after it ended is read again at the next refresh", async () => {
  const reads: number[] = [];
  let clock = Date.UTC(2026, 0, 10, 16, 0, 2); // 2 s into the hour: 15:00 may still gain rows
  const cache = new UsageOverviewCache(
    (since, _until, size) => {
      if (size === HOUR) reads.push(since);
      return Promise.resolve([]);
    },
    () => clock,
    3_000,
    1_000,
  );
  await cache.get();
  const previousHour = Date.UTC(2026, 0, 10, 15);
  assert.equal(reads.filter((s) => s === previousHour).length, 1);
  clock += 20_000;
  await cache.get();
  await until(
    () => reads.filter((s) => s === previousHour).length === 2,
    2_000,
    "the second read of 15:00",
  );
  clock += 20_000;
  await cache.get();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(reads.filter((s) => s === previousHour).length, 2, "settled now: kept");
});

Deno.test("an overview without a store is null", async () => {
  const cache = new UsageOverviewCache(() => Promise.resolve(undefined));
  assert.equal(await cache.get(), null);
});

function record(id: string): RequestRecord {
  return {
    requestId: id,
    protocol: "chat_completions",
    attempts: 1,
    status: 200,
    streamed: false,
    totalMs: 1,
  };
}

Deno.test("the ring keeps the last N newest first, and tells listeners only while they listen", () => {
  const ring = new RecentRequests(3);
  const heard: string[] = [];
  for (let i = 0; i < 2; i++) ring.push(record(`a${i}`), i);
  const stop = ring.listen((r) => heard.push(r.requestId));
  for (let i = 0; i < 3; i++) ring.push(record(`b${i}`), 10 + i);
  stop();
  ring.push(record("c"), 20);
  assert.deepEqual(ring.list().map((r) => r.request_id), ["c", "b2", "b1"]);
  assert.deepEqual(ring.list(2).map((r) => r.request_id), ["c", "b2"]);
  assert.deepEqual(heard, ["b0", "b1", "b2"]);
  assert.equal(ring.list()[0].time, new Date(20).toISOString());
  assert.equal(ring.list()[0].input_tokens, null, "unknown tokens stay unknown");
});
