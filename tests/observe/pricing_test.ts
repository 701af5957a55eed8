import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import {
  builtInPricing,
  costUsd,
  hostedEquivalent,
  pricingFor,
} from "../../src/observe/pricing.ts";
import { isLocalAddress, isLocalProvider } from "../../src/observe/locality.ts";
import type { Usage } from "../../src/observe/usage.ts";

const usage = (input: number, output: number, extra: Partial<Usage> = {}): Usage => ({
  input,
  output,
  cachedInput: null,
  cacheWrite: null,
  reasoning: null,
  ...extra,
});

const CONFIG = `
providers:
  box:
    api_base: http://192.168.1.20:8000/v1
    models:
      - llama
      - id: priced-llama
        pricing: { input_micro_usd_per_token: 0.1, output_micro_usd_per_token: 0.2 }
  cloud:
    api_base: https://api.example.com/v1
    models:
      - id: big
        pricing:
          input_micro_usd_per_token: 2
          output_micro_usd_per_token: 10
          cache_read_micro_usd_per_token: 0.5
          cache_write_micro_usd_per_token: 2.5
          context_tiers:
            - { above_input_tokens: 200000, input_micro_usd_per_token: 4, output_micro_usd_per_token: 15 }
            - { above_input_tokens: 100000, input_micro_usd_per_token: 3 }
      - unpriced
  tunnel:
    api_base: https://gpu.example.org/v1
    local: true
    models: [tuned]
  openai: {}
models:
  smart:
    endpoints:
      - { provider: box, service_id: llama }
      - { provider: cloud, service_id: big }
  fixed:
    endpoints:
      - provider: cloud
        service_id: unpriced
        pricing: { input_micro_usd_per_token: 1, output_micro_usd_per_token: 1 }
`;

const config = parseConfig(CONFIG, "/t.yaml", { env: () => "sk" });
const provider = (id: string) => config.providers.find((p) => p.id === id)!;

Deno.test("cost: input, output, cache reads and writes each at their price", () => {
  const p = pricingFor(config, provider("cloud"), "big", "big")!;
  assert.equal(p.source, "config");
  // 1000 in, of which 200 read from cache and 300 written to it; 100 out.
  const cost = costUsd(usage(1000, 100, { cachedInput: 200, cacheWrite: 300 }), p.pricing)!;
  const expected = (500 * 2 + 200 * 0.5 + 300 * 2.5 + 100 * 10) / 1e6;
  assert.ok(Math.abs(cost - expected) < 1e-12, `${cost} vs ${expected}`);
});

Deno.test("cost: the highest context tier the input is over replaces the prices it names", () => {
  const p = pricingFor(config, provider("cloud"), "big", "big")!.pricing;
  // At 100,000 exactly: base prices.
  assert.equal(costUsd(usage(100_000, 10), p), (100_000 * 2 + 10 * 10) / 1e6);
  // Over 100,000: input 3, output still the base 10.
  assert.equal(costUsd(usage(150_000, 10), p), (150_000 * 3 + 10 * 10) / 1e6);
  // Over 200,000: input 4, output 15.
  assert.equal(costUsd(usage(250_000, 10), p), (250_000 * 4 + 10 * 15) / 1e6);
});

Deno.test("cost is unknown (null) without usage or without a price, never 0", () => {
  const p = pricingFor(config, provider("cloud"), "big", "big")!.pricing;
  assert.equal(costUsd(undefined, p), null);
  assert.equal(costUsd(usage(10, 0, { output: null }), p), null);
  assert.equal(pricingFor(config, provider("cloud"), "unpriced", "unpriced"), undefined);
});

Deno.test("a local server costs 0 unless priced; a virtual model's endpoint price wins", () => {
  const free = pricingFor(config, provider("box"), "llama", "llama")!;
  assert.equal(free.source, "local");
  assert.equal(costUsd(usage(1000, 1000), free.pricing), 0);
  const priced = pricingFor(config, provider("box"), "priced-llama", "priced-llama")!;
  assert.equal(costUsd(usage(1000, 1000), priced.pricing), (100 + 200) / 1e6);
  const fixed = pricingFor(config, provider("cloud"), "unpriced", "fixed")!;
  assert.equal(costUsd(usage(10, 10), fixed.pricing), 20 / 1e6);
});

Deno.test("built-in prices apply to hosted providers, by id or vendor/id, with long-context tiers", () => {
  const p = pricingFor(config, provider("openai"), "gpt-4o-mini", "gpt-4o-mini")!;
  assert.equal(p.source, "built-in");
  assert.equal(costUsd(usage(1_000_000, 1_000_000), p.pricing), 0.15 + 0.6);
  assert.ok(builtInPricing("openai/gpt-4o"));
  assert.equal(builtInPricing("no-such-model"), undefined);
  const sonnet = builtInPricing("claude-sonnet-4-5")!;
  assert.equal(costUsd(usage(300_000, 0), sonnet), 300_000 * 6 / 1e6);
});

Deno.test("local: loopback, private and local-network names; a switch overrides", () => {
  for (
    const url of [
      "http://localhost:11434/v1",
      "http://127.0.0.1:8080",
      "http://[::1]:1234",
      "http://10.0.0.5",
      "http://172.20.1.1",
      "http://192.168.0.2",
      "http://gpu-box:8000/v1",
      "http://rig.lan/v1",
      "http://[fd00::1]/v1",
    ]
  ) {
    assert.ok(isLocalAddress(url), url);
  }
  for (
    const url of [
      "https://api.openai.com/v1",
      "http://8.8.8.8",
      "http://172.32.0.1",
      "https://gpu.example.org",
    ]
  ) {
    assert.ok(!isLocalAddress(url), url);
  }
  assert.ok(isLocalProvider(provider("box")));
  assert.ok(!isLocalProvider(provider("cloud")));
  assert.ok(isLocalProvider(provider("tunnel")));
  assert.equal(pricingFor(config, provider("tunnel"), "tuned", "tuned")!.source, "local");
});

Deno.test("what local would have cost: the virtual model's hosted endpoint, else the reference model", () => {
  const byId = (id: string) => config.providers.find((p) => p.id === id);
  const viaSmart = hostedEquivalent(config, byId, "smart", usage(1000, 100))!;
  assert.equal(viaSmart.model, "cloud:big");
  assert.equal(viaSmart.usd, (1000 * 2 + 100 * 10) / 1e6);
  const viaReference = hostedEquivalent(config, byId, "llama", usage(1_000_000, 0))!;
  assert.equal(viaReference.model, "gpt-4o-mini");
  assert.equal(viaReference.usd, 0.15);
  const other = parseConfig("usage: { reference_model: cloud:big }\n" + CONFIG, "/t.yaml", {
    env: () => "sk",
  });
  const viaConfigured = hostedEquivalent(
    other,
    (id) => other.providers.find((p) => p.id === id),
    "llama",
    usage(1000, 0),
  )!;
  assert.equal(viaConfigured.model, "cloud:big");
  assert.equal(viaConfigured.usd, 2000 / 1e6);
});
