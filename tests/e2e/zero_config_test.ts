/**
 * Zero-config end to end (SPEC §7): the real CLI with no config file anywhere, fake local
 * servers on ephemeral ports named through BITROUTER_DISCOVERY, the official SDK as the client.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { refusedApiBase, startFake } from "../fakes/upstream.ts";
import { runCli } from "./cli.ts";
import { startRouter, within } from "./helpers.ts";

const hi = [{ role: "user" as const, content: "hi" }];

Deno.test("zero-config serve: finds the running servers, routes every spelling, fails fast once one stops", async () => {
  const ollama = await startFake({ kind: "ollama", models: ["llama3.1:latest", "qwen2.5:7b"] });
  const lmstudio = await startFake({ kind: "lmstudio" });
  const nothing = new URL(await refusedApiBase()).host;
  let ollamaOpen = true;
  const router = await startRouter({
    env: {
      BITROUTER_DISCOVERY: [new URL(ollama.url).host, new URL(lmstudio.url).host, nothing]
        .join(","),
    },
  });
  try {
    assert.match(router.readyLine, /zero-config/);
    assert.match(
      router.readyLine,
      /found ollama at 127\.0\.0\.1:\d+ \(llama3\.1:latest, qwen2\.5:7b\), lmstudio at 127\.0\.0\.1:\d+ \(qwen2\.5-7b-instruct\)/,
    );
    assert.match(router.readyLine, /3 models routable/);

    const client = new OpenAI({ baseURL: router.apiBase, apiKey: "unused", maxRetries: 0 });
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.deepEqual(ids, ["llama3.1:latest", "qwen2.5-7b-instruct", "qwen2.5:7b"]);

    for (const model of ["llama3.1", "llama3.1:latest", "ollama:llama3.1"]) {
      const { data, response } = await client.chat.completions.create({ model, messages: hi })
        .withResponse();
      assert.equal(response.headers.get("x-bitrouter-provider"), "ollama", model);
      assert.match(data.choices[0].message.content ?? "", /ollama/);
    }

    await ollama.close();
    ollamaOpen = false;
    // The first request finds it gone; the next is answered at once, naming the server.
    await client.chat.completions.create({ model: "llama3.1", messages: hi }).catch(() => {});
    const started = performance.now();
    const error = await within(
      client.chat.completions.create({ model: "llama3.1", messages: hi }).then(
        () => undefined,
        (e) => e,
      ),
      5_000,
      "a request for a stopped server",
    );
    assert.ok(error instanceof OpenAI.APIError, String(error));
    assert.equal(error.status, 503);
    assert.match(error.message, /provider ollama is down/);
    assert.ok(performance.now() - started < 1_000);
    const after = [];
    for await (const m of client.models.list()) after.push(m.id);
    assert.deepEqual(after, ["qwen2.5-7b-instruct"]);
  } finally {
    const stopping = performance.now();
    const status = await router.stop();
    if (ollamaOpen) await ollama.close();
    await lmstudio.close();
    assert.equal(status.code, 0, router.stderr());
    // No probe timer may keep the process alive after SIGTERM.
    assert.ok(performance.now() - stopping < 9_000);
  }
});

Deno.test("zero-config CLI: providers shows found servers and each hosted key that is missing", async () => {
  const ollama = await startFake({ kind: "ollama" });
  const dir = await Deno.makeTempDir({ prefix: "bitrouter-zero-" });
  try {
    const env = {
      BITROUTER_DISCOVERY: new URL(ollama.url).host,
      OPENAI_API_KEY: "sk-zero-config-secret",
    };
    const providers = await runCli(["providers", "--json"], { cwd: dir, env });
    assert.equal(providers.code, 0, providers.stderr);
    assert.ok(!providers.stdout.includes("sk-zero-config-secret"), "a key was printed");
    const rows = JSON.parse(providers.stdout).providers as Record<string, unknown>[];
    const row = (id: string) => rows.find((r) => r.id === id);
    assert.deepEqual(
      [row("ollama")?.active, row("ollama")?.source, row("ollama")?.kind],
      [true, "detected", "ollama"],
    );
    assert.deepEqual([row("openai")?.active, row("openai")?.source], [true, "built-in"]);
    assert.deepEqual(
      [row("anthropic")?.active, row("anthropic")?.reason],
      [false, "ANTHROPIC_API_KEY unset"],
    );
    const text = await runCli(["providers"], { cwd: dir, env });
    assert.match(text.stdout, /groq\s+\S+\s+chat_completions\s+inactive: GROQ_API_KEY unset/);

    const route = await runCli(["route", "llama3.1", "--json"], { cwd: dir, env });
    assert.equal(route.code, 0, route.stderr);
    assert.deepEqual(
      JSON.parse(route.stdout).candidates.map((c: { provider: string; model: string }) =>
        `${c.provider}/${c.model}`
      ),
      ["ollama/llama3.1:latest"],
    );
    const models = await runCli(["models"], { cwd: dir, env });
    assert.match(models.stdout, /llama3\.1:latest\s+ollama/);
    assert.match(models.stdout, /gpt-4o-mini\s+openai/);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await ollama.close();
  }
});

Deno.test("init --detect writes active blocks for the servers found, which validate and route", async () => {
  const ollama = await startFake({ kind: "ollama", models: ["llama3.1:latest", "qwen2.5:7b"] });
  const llama = await startFake({ kind: "llamacpp", models: ["phi.gguf"] });
  const dir = await Deno.makeTempDir({ prefix: "bitrouter-detect-" });
  try {
    const init = await runCli(["init", "--detect"], {
      cwd: dir,
      env: { BITROUTER_DISCOVERY: `${new URL(ollama.url).host},${new URL(llama.url).host}` },
    });
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /found running: ollama at .* \(2 models\), llamacpp at/);
    const text = await Deno.readTextFile(`${dir}/bitrouter.yaml`);
    assert.match(text, new RegExp(`^  ollama:\\n    api_base: ${ollama.apiBase}$`, "m"));
    assert.match(text, /^ {6}- id: "llama3\.1:latest"$/m);
    assert.match(text, new RegExp(`^  llamacpp:\\n    api_base: ${llama.apiBase}$`, "m"));
    assert.match(text, /^ {2}# vllm:$/m, "servers not found stay commented");
    assert.match(text, /^ {2}# openai:$/m);

    const validate = await runCli(["config", "validate"], { cwd: dir });
    assert.equal(validate.code, 0, validate.stdout + validate.stderr);
    const route = await runCli(["route", "llama3.1", "--json"], { cwd: dir });
    assert.equal(route.code, 0, route.stderr);
    const candidates = JSON.parse(route.stdout).candidates;
    assert.deepEqual(candidates.map((c: { url: string }) => c.url), [
      `${ollama.apiBase}/chat/completions`,
    ]);
    const phi = await runCli(["route", "phi.gguf", "--json"], { cwd: dir });
    assert.equal(JSON.parse(phi.stdout).candidates[0].provider, "llamacpp");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await ollama.close();
    await llama.close();
  }
});
