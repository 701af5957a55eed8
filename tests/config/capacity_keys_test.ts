import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/config/errors.ts";
import { initTemplate } from "../../src/config/template.ts";

const load = (text: string, env: Record<string, string> = {}) =>
  parseConfig(text, "/t.yaml", { env: (k) => env[k] });

Deno.test("capacity keys in the Rust BitRouter's shape load: max_concurrent, per-model caps, rate_limits, accounts, balance", () => {
  const c = load(
    `
upstream: { timeouts: { queue_secs: 5 }, cascade_strategy: balance }
providers:
  llamacpp:
    api_base: http://localhost:8080/v1
    max_concurrent: 4
    rate_limits:
      - "*": { requests_per_minute: 60, tokens_per_minute: 100000 }
      - "qwen*": { requests_per_minute: 10 }
    models:
      - id: qwen
        provider_model_id: qwen2.5:7b
        max_concurrent: 2
      - llama
  openai:
    accounts:
      - { api_key: "\${KEY_A}", label: a }
      - { api_key: "\${KEY_B}" }
    account_strategy: balance
models:
  smart:
    strategy: balance
    endpoints: [{ provider: llamacpp, service_id: qwen }]
`,
    { KEY_A: "sk-a", KEY_B: "sk-b" },
  );
  const [local, openai] = c.providers;
  assert.equal(local.maxConcurrent, 4);
  assert.deepEqual(local.modelMaxConcurrent, { "qwen2.5:7b": 2 });
  assert.deepEqual(local.rateLimits, [
    { pattern: "*", requestsPerMinute: 60, tokensPerMinute: 100000 },
    { pattern: "qwen*", requestsPerMinute: 10, tokensPerMinute: undefined },
  ]);
  assert.equal(local.timeouts.queueSecs, 5);
  assert.deepEqual(openai.accounts, [{ apiKey: "sk-a", label: "a" }, {
    apiKey: "sk-b",
    label: "2",
  }]);
  assert.equal(openai.accountStrategy, "balance");
  assert.equal(openai.inactiveReason, undefined, "accounts carry the keys; OPENAI_API_KEY unset");
  assert.equal(c.virtualModels[0].strategy, "balance");
  assert.equal(c.cascadeStrategy, "balance");
  assert.equal(c.warnings.length, 0, JSON.stringify(c.warnings));
});

Deno.test("an account whose key variable is unset is left out; with none left the provider is inactive, naming them", () => {
  const text = `
providers:
  openai:
    accounts:
      - { api_key: "\${KEY_A}", label: a }
      - { api_key: "\${KEY_B}", label: b }
`;
  const one = load(text, { KEY_B: "sk-b" }).providers[0];
  assert.deepEqual(one.accounts?.map((a) => a.label), ["b"]);
  const none = load(text).providers[0];
  assert.match(none.inactiveReason ?? "", /KEY_A, KEY_B unset/);
});

Deno.test("nothing limits a provider without capacity keys, and the queue waits 30 s by default", () => {
  const p = load("providers:\n  a: { api_base: http://h/v1, models: [m] }\n").providers[0];
  assert.equal(p.maxConcurrent, undefined);
  assert.equal(p.rateLimits, undefined);
  assert.equal(p.modelMaxConcurrent, undefined);
  assert.equal(p.timeouts.queueSecs, 30);
});

Deno.test("a wrong max_concurrent or rate window is an error saying what was expected", () => {
  for (
    const [text, pattern] of [
      ["max_concurrent: 0", /expected 1 or more requests/],
      ["max_concurrent: 1.5", /max_concurrent: expected int/],
      ['rate_limits: { "*": 5 }', /rate_limits: expected array/],
      ['rate_limits:\n      - "*": 5', /rate_limits\.0\.\*: expected object/],
      ["account_strategy: random", /failover|balance/],
    ] as const
  ) {
    assert.throws(
      () => load(`providers:\n  a:\n    api_base: http://h/v1\n    ${text}\n`),
      (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
      text,
    );
  }
});

Deno.test("the init template mentions max_concurrent and queue_secs and still loads", () => {
  const text = initTemplate();
  assert.match(text, /max_concurrent/);
  assert.match(text, /queue_secs/);
  assert.match(text, /balance/);
  load(text);
});
