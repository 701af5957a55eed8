import assert from "node:assert/strict";
import parsePrometheus from "parse-prometheus-text-format";
import { parseConfig } from "../../src/config/load.ts";
import { buildRouteTable } from "../../src/routing/route_table.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { HealthBook } from "../../src/routing/health.ts";
import type { RequestRecord } from "../../src/observe/log.ts";

const table = buildRouteTable(parseConfig(
  `
providers:
  box: { api_base: "http://127.0.0.1:9/v1", models: [llama] }
models:
  smart: { endpoints: [{ provider: box, service_id: llama }] }
`,
  "/t.yaml",
  { env: () => undefined },
));

const record = (model: string, extra: Partial<RequestRecord> = {}): RequestRecord => ({
  requestId: "r",
  protocol: "chat_completions",
  model,
  provider: "box",
  upstreamModel: "llama",
  attempts: 1,
  status: 200,
  streamed: false,
  ttfbMs: 5,
  totalMs: 20,
  ...extra,
});

Deno.test("invented model ids, providers and protocols fold into `other`: series stay bounded", () => {
  const metrics = new Metrics();
  for (let i = 0; i < 5000; i++) {
    metrics.observe(record(`made-up-${i}`, { protocol: `/x${i}` }), table);
  }
  metrics.observe(record("smart"), table);
  metrics.observe(record("llama", { provider: "ghost", status: 503 }), table);
  const text = metrics.render(table);
  const families = parsePrometheus(text) as {
    name: string;
    metrics: { value: string; labels: Record<string, string> }[];
  }[];
  const requests = families.find((f) => f.name === "bitrouter_requests_total")!.metrics;
  assert.deepEqual(
    requests.map((m) => [m.labels, Number(m.value)]),
    [
      [{ protocol: "other", provider: "box", model: "other", status_class: "2xx" }, 5000],
      [{ protocol: "chat_completions", provider: "box", model: "smart", status_class: "2xx" }, 1],
      [{ protocol: "chat_completions", provider: "other", model: "llama", status_class: "5xx" }, 1],
    ],
  );
  assert.ok(text.length < 20_000, `${text.length} characters`);
});

Deno.test("endpoint health and token counts show in the scrape; label values are escaped", () => {
  const metrics = new Metrics();
  const health = new HealthBook({ failures: 1, cooldownSecs: 30, maxRetryAfterSecs: 60 }, () => 0);
  health.report("box", "llama", { ok: false, error: "down" });
  metrics.observe(
    record("llama", {
      usage: { input: 7, output: 3, cachedInput: 2, cacheWrite: null, reasoning: 1 },
      costUsd: 0,
    }),
    table,
  );
  metrics.reloaded(true);
  metrics.reloaded(false);
  metrics.reloaded(false);
  const text = metrics.render(table, { health });
  assert.match(text, /^bitrouter_endpoint_healthy\{provider="box",model="llama"\} 0$/m);
  assert.match(
    text,
    /^bitrouter_tokens_total\{provider="box",model="llama",direction="input"\} 7$/m,
  );
  assert.match(
    text,
    /^bitrouter_tokens_total\{provider="box",model="llama",direction="reasoning"\} 1$/m,
  );
  assert.doesNotMatch(text, /direction="cache_write"/, "unknown counts are not written as 0");
  assert.match(text, /^bitrouter_config_reloads_total\{result="failure"\} 2$/m);
  assert.match(text, /^bitrouter_provider_up\{provider="box"\} 1$/m);
  // A provider id with a quote and a backslash stays one valid label value.
  const odd = buildRouteTable(parseConfig(
    `providers:\n  'a"b\\\\c': { api_base: "http://127.0.0.1:9/v1", models: [m] }\n`,
    "/t.yaml",
    { env: () => undefined },
  ));
  const families = parsePrometheus(new Metrics().render(odd)) as {
    name: string;
    metrics: { labels: Record<string, string> }[];
  }[];
  const up = families.find((f) => f.name === "bitrouter_provider_up")!;
  const id = [...odd.providers.keys()][0];
  assert.ok(id.includes('"') && id.includes("\\"));
  assert.equal(up.metrics[0].labels.provider, id);
});
