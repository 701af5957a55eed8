import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { buildRouteTable } from "../../src/routing/route_table.ts";
import {
  normalizeModel,
  NoRouteError,
  resolveCandidates,
  routableModels,
} from "../../src/routing/resolve.ts";

const CONFIG = `
providers:
  ollama:
    api_base: http://localhost:11434/v1
    models:
      - id: llama3.1
        provider_model_id: llama3.1:8b
      - qwen2.5
  vllm:
    api_base: http://localhost:8000/v1
    priority: -1
    models: [qwen2.5]
  lmstudio:
    api_base: http://localhost:1234/v1
    models: [qwen2.5, llama3.1]
  openai:
    api_key: \${OPENAI_API_KEY}
    models: [{ id: gpt-4o-mini }, { id: qwen2.5 }]
  anthropic:
    api_key: \${ANTHROPIC_API_KEY}
models:
  smart:
    endpoints:
      - { provider: lmstudio, service_id: llama3.1 }
      - { provider: ollama, service_id: llama3.1 }
      - { provider: openai, service_id: gpt-4o-mini }
  by-priority:
    strategy: cascade
    endpoints:
      - { provider: ollama, service_id: qwen2.5 }
      - { provider: vllm, service_id: qwen2.5 }
  hosted-only:
    endpoints:
      - { provider: anthropic, service_id: claude-sonnet-4-5 }
`;

const table = (vars: Record<string, string> = {}) =>
  buildRouteTable(parseConfig(CONFIG, "/t/bitrouter.yaml", { env: (n) => vars[n] }));
const chain = (t: ReturnType<typeof table>, model: string) =>
  resolveCandidates(t, model).candidates.map((c) => `${c.provider.id}:${c.model}`);

Deno.test("a pin goes to that provider only, with the rest as the model id even if undeclared", () => {
  const t = table();
  assert.deepEqual(chain(t, "ollama:mistral-nemo"), ["ollama:mistral-nemo"]);
  assert.equal(resolveCandidates(t, "ollama:mistral-nemo").kind, "pin");
});

Deno.test("a pin splits at the first colon, so Ollama tags survive", () => {
  assert.deepEqual(chain(table(), "ollama:llama3.1:8b"), ["ollama:llama3.1:8b"]);
});

Deno.test("a pin of a declared alias sends that provider's provider_model_id", () => {
  assert.deepEqual(chain(table(), "ollama:llama3.1"), ["ollama:llama3.1:8b"]);
});

Deno.test("a bare name with a colon is not a pin when the prefix is no provider", () => {
  assert.throws(() => resolveCandidates(table(), "llama3.1:8b"), (e: unknown) => {
    assert.ok(e instanceof NoRouteError);
    assert.match(e.message, /no provider declares it.*bitrouter models/);
    return true;
  });
});

Deno.test("a pin to an inactive provider says why it is inactive", () => {
  assert.throws(
    () => resolveCandidates(table(), "openai:gpt-4o"),
    /openai is inactive because OPENAI_API_KEY unset/,
  );
});

Deno.test("a virtual model keeps its declared order under strategy priority", () => {
  assert.deepEqual(chain(table({ OPENAI_API_KEY: "k" }), "smart"), [
    "lmstudio:llama3.1",
    "ollama:llama3.1:8b",
    "openai:gpt-4o-mini",
  ]);
});

Deno.test("a virtual model with strategy cascade is ordered by provider priority", () => {
  assert.deepEqual(chain(table(), "by-priority"), ["vllm:qwen2.5", "ollama:qwen2.5"]);
});

Deno.test("a virtual model skips inactive endpoints and reports them", () => {
  const r = resolveCandidates(table(), "smart");
  assert.deepEqual(r.candidates.map((c) => c.provider.id), ["lmstudio", "ollama"]);
  assert.deepEqual(r.skipped.map((s) => [s.provider.id, s.reason]), [[
    "openai",
    "OPENAI_API_KEY unset",
  ]]);
});

Deno.test("a virtual model whose every endpoint is inactive does not resolve, and says why", () => {
  assert.throws(
    () => resolveCandidates(table(), "hosted-only"),
    /anthropic is inactive because ANTHROPIC_API_KEY unset/,
  );
});

Deno.test("a bare name cascades over active providers by priority, then file order", () => {
  assert.deepEqual(chain(table({ OPENAI_API_KEY: "k" }), "qwen2.5"), [
    "vllm:qwen2.5",
    "ollama:qwen2.5",
    "lmstudio:qwen2.5",
    "openai:qwen2.5",
  ]);
  assert.deepEqual(chain(table(), "llama3.1"), ["ollama:llama3.1:8b", "lmstudio:llama3.1"]);
});

Deno.test("a bare name only inactive providers declare names the missing key", () => {
  assert.throws(
    () => resolveCandidates(table(), "gpt-4o-mini"),
    /openai is inactive because OPENAI_API_KEY unset/,
  );
});

Deno.test("whitespace and control characters around a model are ignored", () => {
  assert.equal(normalizeModel(" \tllama3.1\u0000\n"), "llama3.1");
  assert.deepEqual(chain(table(), "  llama3.1\n"), ["ollama:llama3.1:8b", "lmstudio:llama3.1"]);
  assert.throws(() => resolveCandidates(table(), " \u0001 "), /empty/);
});

Deno.test("routable models are exactly the ids that resolve", () => {
  const t = table();
  const listed = routableModels(t);
  assert.deepEqual([...listed.keys()], ["by-priority", "llama3.1", "qwen2.5", "smart"]);
  for (const id of listed.keys()) assert.ok(resolveCandidates(t, id).candidates.length > 0);
  assert.ok(!listed.has("gpt-4o-mini"), "an inactive provider's model must not be listed");
  assert.ok(!listed.has("hosted-only"));
  assert.ok(routableModels(table({ OPENAI_API_KEY: "k" })).has("gpt-4o-mini"));
});

Deno.test("api_protocol patterns pick the protocol per model, most specific first", () => {
  const t = buildRouteTable(parseConfig(
    'providers:\n  gw:\n    api_base: http://gw/v1\n    api_protocol:\n      - "*": chat_completions\n      - "claude-*": messages\n      - "claude-3-haiku": chat_completions\n',
    "/t.yaml",
    { env: () => undefined },
  ));
  const protocol = (m: string) => resolveCandidates(t, `gw:${m}`).candidates[0].protocol;
  assert.equal(protocol("claude-sonnet-4-5"), "messages");
  assert.equal(protocol("claude-3-haiku"), "chat_completions");
  assert.equal(protocol("gpt-4o"), "chat_completions");
});

Deno.test("an Ollama provider answers `name:latest` for a declared `name`, without listing it twice", () => {
  const table = buildRouteTable(parseConfig(
    `providers:\n  ollama:\n    api_base: http://localhost:11434/v1\n    models: [qwen2.5, { id: llama3.1, provider_model_id: "llama3.1:8b" }]\n`,
    "/t.yaml",
    { env: () => undefined },
  ));
  assert.deepEqual(
    resolveCandidates(table, "qwen2.5:latest").candidates.map((c) => c.model),
    ["qwen2.5"],
  );
  // An explicit provider_model_id is a different tag: no `latest` twin.
  assert.throws(() => resolveCandidates(table, "llama3.1:latest"), NoRouteError);
  assert.deepEqual([...routableModels(table).keys()], ["llama3.1", "qwen2.5"]);
});

Deno.test("a down provider is skipped; when it is the only one, the error says it is down", () => {
  const config = parseConfig(CONFIG, "/t.yaml", { env: () => undefined });
  config.providers.find((p) => p.id === "vllm")!.downReason = "down since 10:00:00 UTC (refused)";
  const table = buildRouteTable(config);
  const r = resolveCandidates(table, "qwen2.5");
  assert.ok(!r.candidates.some((c) => c.provider.id === "vllm"));
  assert.deepEqual(r.skipped.filter((s) => s.down).map((s) => s.provider.id), ["vllm"]);
  try {
    resolveCandidates(table, "vllm:qwen2.5");
    assert.fail("a pin to a down provider resolved");
  } catch (e) {
    assert.ok(e instanceof NoRouteError && e.unavailable);
    assert.match(e.message, /provider vllm is down since 10:00:00 UTC/);
  }
});
