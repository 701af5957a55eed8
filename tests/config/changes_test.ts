import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import {
  configChanges,
  isUnchanged,
  restartNotice,
  summarizeChanges,
} from "../../src/config/changes.ts";

const load = (text: string) => parseConfig(text, "/etc/bitrouter.yaml", { env: () => undefined });

const BASE = `
server: { listen: 127.0.0.1:4356, log_level: info, api_keys: [k1], skip_auth: false }
providers:
  ollama: { api_base: "http://127.0.0.1:11434/v1", models: [llama3.1] }
  vllm: { api_base: "http://127.0.0.1:8000/v1", models: [qwen] }
models:
  smart: { endpoints: [{ provider: ollama, service_id: llama3.1 }] }
  fast: { endpoints: [{ provider: vllm, service_id: qwen }] }
`;

const counts = { providers: 2, virtualModels: 2, routable: 4, routableBefore: 4 };

Deno.test("the same file twice changes nothing, and the summary says so", () => {
  const c = configChanges(load(BASE), load(BASE));
  assert.ok(isUnchanged(c));
  assert.equal(
    summarizeChanges(c, counts),
    "2 providers, 2 virtual models, 4 models routable; nothing changed",
  );
  assert.equal(restartNotice(c), undefined);
});

Deno.test("providers and virtual models added, removed and changed are named", () => {
  const next = BASE
    .replace("models: [llama3.1]", "models: [llama3.1, qwen2.5]")
    .replace(
      `  vllm: { api_base: "http://127.0.0.1:8000/v1", models: [qwen] }`,
      `  lmstudio: { api_base: "http://127.0.0.1:1234/v1", models: [qwen] }`,
    )
    .replace("provider: vllm", "provider: lmstudio")
    .concat("  coder: { endpoints: [{ provider: ollama, service_id: qwen2.5 }] }\n");
  const c = configChanges(load(BASE), load(next));
  assert.deepEqual(c.providers, { added: ["lmstudio"], removed: ["vllm"], changed: ["ollama"] });
  assert.deepEqual(c.models, { added: ["coder"], removed: [], changed: ["fast"] });
  assert.deepEqual(c.settings, []);
  assert.equal(
    summarizeChanges(c, { providers: 2, virtualModels: 3, routable: 6, routableBefore: 4 }),
    "2 providers (+lmstudio, -vllm, ~ollama), 3 virtual models (+coder, ~fast), 6 models routable (was 4)",
  );
});

Deno.test("live settings are named by key path, and api keys are named, never shown", () => {
  const next = BASE.replace("log_level: info", "log_level: debug").replace("[k1]", "[k2]") +
    "health: { failures: 5 }\nupstream: { timeouts: { idle_secs: 9 } }\n";
  const c = configChanges(load(BASE), load(next));
  assert.deepEqual(c.settings, [
    "server.api_keys",
    "server.log_level",
    "upstream.timeouts",
    "health",
  ]);
  const line = summarizeChanges(c, counts);
  assert.match(line, /; changed: server\.api_keys, server\.log_level, upstream\.timeouts, health$/);
  assert.doesNotMatch(line, /k1|k2/);
  assert.equal(restartNotice(c), undefined);
});

Deno.test("a new server.listen needs a restart, and the notice says what runs and what is asked", () => {
  const c = configChanges(load(BASE), load(BASE.replace("127.0.0.1:4356", "127.0.0.1:9000")));
  assert.deepEqual(c.restartNeeded, [
    { key: "server.listen", running: "127.0.0.1:4356", wanted: "127.0.0.1:9000" },
  ]);
  assert.ok(!isUnchanged(c));
  assert.match(
    restartNotice(c)!,
    /^server\.listen is now 127\.0\.0\.1:9000 \(running: 127\.0\.0\.1:4356\) — only applies at startup; restart bitrouter/,
  );
});

Deno.test("discovery's own state on a provider is not a change", () => {
  const before = load(BASE);
  const after = load(BASE);
  after.providers[0] = { ...after.providers[0], downReason: "down since 10:00", kind: "ollama" };
  assert.ok(isUnchanged(configChanges(before, after)));
});
