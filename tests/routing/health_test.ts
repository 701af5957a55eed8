import assert from "node:assert/strict";
import {
  HealthBook,
  MAX_HEALTH_RECORDS,
  MAX_LAST_ERROR_LENGTH,
  retryAfterSecs,
} from "../../src/routing/health.ts";

const c = (provider: string, model = "m") => ({ provider: { id: provider }, model });
const ids = (list: { provider: { id: string } }[]) => list.map((x) => x.provider.id);

function book(
  settings = { failures: 3, cooldownSecs: 30, maxRetryAfterSecs: 300 },
  maxRecords?: number,
) {
  const clock = { now: 1_000_000 };
  return { clock, health: new HealthBook(settings, () => clock.now, maxRecords) };
}

Deno.test("an endpoint is moved behind the others after 3 consecutive failures, not before", () => {
  const { health } = book();
  const list = [c("ollama"), c("openai")];
  for (let i = 0; i < 2; i++) health.report("ollama", "m", { ok: false, error: "refused" });
  assert.deepEqual(ids(health.order(list)), ["ollama", "openai"]);
  health.report("ollama", "m", { ok: false, error: "refused" });
  assert.deepEqual(ids(health.order(list)), ["openai", "ollama"]);
  assert.equal(health.snapshot()[0].state, "cooling");
});

Deno.test("a success in between resets the count", () => {
  const { health } = book();
  const list = [c("ollama"), c("openai")];
  health.report("ollama", "m", { ok: false, error: "x" });
  health.report("ollama", "m", { ok: false, error: "x" });
  health.report("ollama", "m", { ok: true });
  health.report("ollama", "m", { ok: false, error: "x" });
  assert.deepEqual(ids(health.order(list)), ["ollama", "openai"]);
});

Deno.test("the health of one model at a provider does not move another model there", () => {
  const { health } = book({ failures: 1, cooldownSecs: 30, maxRetryAfterSecs: 300 });
  health.report("ollama", "mistral", { ok: false, error: "404 not pulled" });
  assert.deepEqual(ids(health.order([c("ollama", "llama3.1"), c("openai")])), ["ollama", "openai"]);
});

Deno.test("when every candidate is cooling they are still all tried, in order", () => {
  const { health } = book({ failures: 1, cooldownSecs: 30, maxRetryAfterSecs: 300 });
  health.report("a", "m", { ok: false, error: "x" });
  health.report("b", "m", { ok: false, error: "x" });
  assert.deepEqual(ids(health.order([c("a"), c("b")])), ["a", "b"]);
});

Deno.test("after the cooldown one request probes; its success restores, its failure cools again", () => {
  const { clock, health } = book({ failures: 1, cooldownSecs: 30, maxRetryAfterSecs: 300 });
  const list = [c("ollama"), c("openai")];
  health.report("ollama", "m", { ok: false, error: "x" });
  clock.now += 30_001;
  assert.deepEqual(ids(health.order(list)), ["ollama", "openai"], "back in place after cooldown");
  assert.equal(health.snapshot()[0].state, "half_open");
  health.sending("ollama", "m");
  assert.deepEqual(ids(health.order(list)), ["openai", "ollama"], "others wait for the probe");
  health.report("ollama", "m", { ok: false, error: "still down" });
  assert.deepEqual(ids(health.order(list)), ["openai", "ollama"], "a failed probe cools again");
  clock.now += 30_001;
  health.sending("ollama", "m");
  health.report("ollama", "m", { ok: true });
  assert.deepEqual(ids(health.order(list)), ["ollama", "openai"]);
  assert.deepEqual(health.snapshot(), []);
});

Deno.test("a probe whose request never reports lapses after one cooldown", () => {
  const { clock, health } = book({ failures: 1, cooldownSecs: 30, maxRetryAfterSecs: 300 });
  health.report("ollama", "m", { ok: false, error: "x" });
  clock.now += 30_001;
  health.sending("ollama", "m");
  clock.now += 30_001;
  assert.deepEqual(ids(health.order([c("ollama"), c("openai")])), ["ollama", "openai"]);
});

Deno.test("a 429 with Retry-After cools for that long at once, capped", () => {
  const { clock, health } = book({ failures: 3, cooldownSecs: 30, maxRetryAfterSecs: 300 });
  const list = [c("groq"), c("openai")];
  health.report("groq", "m", { ok: false, error: "429", retryAfterSecs: 120 });
  assert.deepEqual(ids(health.order(list)), ["openai", "groq"]);
  clock.now += 119_000;
  assert.deepEqual(ids(health.order(list)), ["openai", "groq"]);
  clock.now += 2_000;
  assert.deepEqual(ids(health.order(list)), ["groq", "openai"]);
  health.report("groq", "m", { ok: false, error: "429", retryAfterSecs: 86_400 });
  assert.equal(health.snapshot()[0].coolingForMs, 300_000);
});

Deno.test("records of providers that left the config are dropped on reload", () => {
  const { health } = book({ failures: 1, cooldownSecs: 30, maxRetryAfterSecs: 300 });
  health.report("old", "m", { ok: false, error: "x" });
  health.report("kept", "m", { ok: false, error: "x" });
  health.retainProviders(new Set(["kept"]));
  assert.deepEqual(health.snapshot().map((s) => s.provider), ["kept"]);
});

Deno.test("Retry-After is read as seconds or as an HTTP date", () => {
  assert.equal(retryAfterSecs("7"), 7);
  assert.equal(retryAfterSecs(" 1.5 "), 1.5);
  assert.equal(
    retryAfterSecs("Wed, 21 Oct 2015 07:28:10 GMT", Date.UTC(2015, 9, 21, 7, 28, 0)),
    10,
  );
  assert.equal(retryAfterSecs("soon"), undefined);
  assert.equal(retryAfterSecs(null), undefined);
});

Deno.test("report says how long an endpoint was cooled, only on the failure that cooled it", () => {
  const { health } = book({ failures: 2, cooldownSecs: 30, maxRetryAfterSecs: 300 });
  assert.equal(health.report("a", "m", { ok: false, error: "x" }), undefined);
  assert.equal(health.report("a", "m", { ok: false, error: "x" }), 30_000);
  assert.equal(health.report("a", "m", { ok: false, error: "x" }), undefined, "already cooling");
  assert.equal(health.report("a", "m", { ok: true }), undefined);
});

Deno.test("10,000 invented models failing leave at most the cap of records, the newest ones", () => {
  const { health } = book();
  const longError = `404 model not found: ${"x".repeat(100_000)}`;
  for (let i = 0; i < 10_000; i++) {
    health.report("up", `invented-${i}`, { ok: false, error: longError });
  }
  const records = health.snapshot();
  assert.equal(health.size, MAX_HEALTH_RECORDS);
  assert.equal(records.length, MAX_HEALTH_RECORDS);
  const models = new Set(records.map((r) => r.model));
  assert.ok(models.has("invented-9999") && models.has(`invented-${10_000 - MAX_HEALTH_RECORDS}`));
  assert.ok(!models.has(`invented-${10_000 - MAX_HEALTH_RECORDS - 1}`), "the oldest went first");
  assert.ok(records.every((r) => r.lastError!.length <= MAX_LAST_ERROR_LENGTH));
  assert.ok(records[0].lastError!.startsWith("404 model not found: xxx"));
  assert.ok(JSON.stringify(records).length < 500 * MAX_HEALTH_RECORDS, "the snapshot is bounded");
});

Deno.test("a cooling endpoint is still cooled after a flood of invented models", () => {
  const { health } = book({ failures: 3, cooldownSecs: 30, maxRetryAfterSecs: 300 });
  for (let i = 0; i < 3; i++) health.report("ollama", "llama3.1", { ok: false, error: "refused" });
  // Its record was made long before the flood and is not used during it.
  for (let i = 0; i < 10_000; i++) {
    health.report("ollama", `invented-${i}`, { ok: false, error: "404" });
  }
  assert.equal(health.size, MAX_HEALTH_RECORDS);
  const list = [c("ollama", "llama3.1"), c("openai")];
  assert.deepEqual(ids(health.order(list)), ["openai", "ollama"]);
});

Deno.test("when every record is cooled, the least recently used is dropped, not one in use", () => {
  const { health } = book({ failures: 1, cooldownSecs: 30, maxRetryAfterSecs: 300 }, 3);
  health.report("a", "m", { ok: false, error: "x" });
  health.report("b", "m", { ok: false, error: "x" });
  health.report("c", "m", { ok: false, error: "x" });
  health.order([c("a")]); // a request tries "a": it is the most recently used now
  health.report("d", "m", { ok: false, error: "x" });
  assert.deepEqual(health.snapshot().map((s) => s.provider).sort(), ["a", "c", "d"]);
  assert.deepEqual(ids(health.order([c("a"), c("z")])), ["z", "a"], "a is still cooling");
});

Deno.test("a long error is cut to the bound without splitting a character", () => {
  const { health } = book();
  health.report("up", "m", { ok: false, error: "🦙".repeat(1000) });
  const kept = health.snapshot()[0].lastError!;
  assert.ok(kept.length <= MAX_LAST_ERROR_LENGTH && kept.endsWith("…"));
  assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(kept), "no lone high surrogate");
});
