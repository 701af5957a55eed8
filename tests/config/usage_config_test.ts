import assert from "node:assert/strict";
import { parseConfig, zeroConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/config/errors.ts";
import { storeLocation } from "../../src/config/database.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("database.url: beside the config file by default, relative or absolute sqlite URLs, postgres refused", () => {
  const at = (text: string) =>
    storeLocation(parseConfig(text, "/etc/bitrouter/bitrouter.yaml", { env: env({}) }), env({}));
  assert.deepEqual(at(""), { kind: "sqlite", path: "/etc/bitrouter/bitrouter.db" });
  assert.deepEqual(at("database: { url: sqlite://usage/u.db?mode=rwc }"), {
    kind: "sqlite",
    path: "/etc/bitrouter/usage/u.db",
  });
  assert.deepEqual(at("database: { url: sqlite:///var/lib/bitrouter/u.db }"), {
    kind: "sqlite",
    path: "/var/lib/bitrouter/u.db",
  });
  assert.equal(at("database: { url: 'postgres://db/bitrouter' }").kind, "unsupported");
});

Deno.test("zero-config keeps the store in ~/.bitrouter, or BITROUTER_HOME when set", () => {
  assert.deepEqual(storeLocation(zeroConfig(), env({ HOME: "/home/u" })), {
    kind: "sqlite",
    path: "/home/u/.bitrouter/bitrouter.db",
  });
  assert.deepEqual(
    storeLocation(zeroConfig(), env({ HOME: "/home/u", BITROUTER_HOME: "/srv/br" })),
    {
      kind: "sqlite",
      path: "/srv/br/bitrouter.db",
    },
  );
});

Deno.test("usage: false, retention and reference model; pricing and local are read; bad values name the key", () => {
  const off = parseConfig("usage: false", "/t.yaml", { env: env({}) });
  assert.equal(off.usage?.enabled, false);
  const on = parseConfig(
    `
usage: { retention_days: 7, reference_model: "claude-haiku-4-5" }
providers:
  box:
    api_base: http://10.0.0.2/v1
    local: false
    compatibility: { chat_completions: { supports_stream_options: false } }
    models:
      - id: m
        pricing:
          input_micro_usd_per_token: "1.5"
          output_micro_usd_per_token: 3
          context_tiers: [{ above_input_tokens: 1000, output_micro_usd_per_token: 6 }]
`,
    "/t.yaml",
    { env: env({}) },
  );
  assert.deepEqual(
    { ...on.usage, databaseUrl: on.usage?.databaseUrl },
    { enabled: true, databaseUrl: undefined, retentionDays: 7, referenceModel: "claude-haiku-4-5" },
  );
  const box = on.providers[0];
  assert.equal(box.local, false);
  assert.equal(box.chatCompatibility?.supportsStreamOptions, false);
  assert.deepEqual(box.models[0].pricing, {
    input: 1.5,
    output: 3,
    cacheRead: undefined,
    cacheWrite: undefined,
    contextTiers: [{
      aboveInputTokens: 1000,
      input: undefined,
      output: 6,
      cacheRead: undefined,
      cacheWrite: undefined,
    }],
  });
  assert.throws(
    () =>
      parseConfig(
        "providers:\n  b:\n    api_base: http://x/v1\n    models: [{ id: m, pricing: { input_micro_usd_per_token: -1 } }]\n",
        "/t.yaml",
        { env: env({}) },
      ),
    (e: unknown) =>
      e instanceof ConfigError &&
      /providers\.b\.models\.0\.pricing\.input_micro_usd_per_token.*0 or more/.test(e.message),
  );
  assert.throws(
    () => parseConfig("database: { url: mysql://x }", "/t.yaml", { env: env({}) }),
    (e: unknown) =>
      e instanceof ConfigError && /database\.url: expected sqlite:\/\//.test(e.message),
  );
});
