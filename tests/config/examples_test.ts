import assert from "node:assert/strict";
import { loadConfigFile } from "../../src/config/load.ts";

const dir = new URL("../../config/", import.meta.url);

Deno.test("every example config in config/ loads without errors or warnings", async () => {
  let count = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".yaml")) continue;
    count++;
    const config = await loadConfigFile(new URL(entry.name, dir).pathname, {
      env: () => undefined,
    });
    assert.deepEqual(config.warnings, [], entry.name);
    assert.ok(config.providers.length > 0, `${entry.name} declares no provider`);
  }
  assert.ok(count >= 5, `expected the five example configs, found ${count}`);
});

Deno.test("the local-first example answers smart from ollama first, then openai", async () => {
  const config = await loadConfigFile(new URL("local-first.yaml", dir).pathname, {
    env: () => "sk-x",
  });
  assert.deepEqual(config.virtualModels[0].endpoints.map((e) => e.provider), ["ollama", "openai"]);
});
