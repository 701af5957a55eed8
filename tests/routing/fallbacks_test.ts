import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { buildRouteTable } from "../../src/routing/route_table.ts";
import { resolveCandidates } from "../../src/routing/resolve.ts";
import { FallbackError, withFallbacks } from "../../src/routing/fallbacks.ts";

const table = buildRouteTable(parseConfig(
  `
providers:
  ollama: { api_base: "http://127.0.0.1:11434/v1", models: [llama3.1, qwen2.5] }
  vllm: { api_base: "http://127.0.0.1:8000/v1", models: [qwen2.5] }
  openai: { api_key: sk, models: [gpt-4o-mini] }
`,
  "/t.yaml",
  { env: () => undefined },
));
const route = (model: string, models: unknown) =>
  withFallbacks(table, resolveCandidates(table, model), models).candidates.map((c) =>
    `${c.provider.id}:${c.model}`
  );

Deno.test("fallback models are tried in order after the main model's candidates, without repeats", () => {
  assert.deepEqual(route("llama3.1", ["llama3.1", "qwen2.5", "ollama:qwen2.5", "gpt-4o-mini"]), [
    "ollama:llama3.1",
    "ollama:qwen2.5",
    "vllm:qwen2.5",
    "openai:gpt-4o-mini",
  ]);
});

Deno.test("an unknown fallback is an error naming the entry", () => {
  assert.throws(() => route("llama3.1", ["gpt-4o-mini", "nope"]), (e) => {
    assert.ok(e instanceof FallbackError);
    assert.match(e.message, /^models\[1\]: model "nope" is not available/);
    return true;
  });
});

Deno.test("more than 8 fallbacks, or a list that is not of strings, is refused", () => {
  assert.throws(() => route("llama3.1", Array(9).fill("qwen2.5")), /at most 8/);
  assert.throws(() => route("llama3.1", "qwen2.5"), FallbackError);
  assert.throws(() => route("llama3.1", [1]), FallbackError);
});
