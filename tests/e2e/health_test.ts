/**
 * End to end for endpoint health: a failing Ollama cools down in the running router, the log says
 * so once, and `bitrouter route` shows it by asking that router.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startFake } from "../fakes/upstream.ts";
import { startRouter } from "./helpers.ts";
import { runCli } from "./cli.ts";

Deno.test("a failing endpoint cools down, and `bitrouter route` shows it from the running server", async () => {
  const ollama = await startFake({ kind: "ollama" });
  const openai = await startFake({ kind: "openai" });
  const providers = `
providers:
  ollama: { api_base: "${ollama.apiBase}", models: [{ id: llama3.1, provider_model_id: "llama3.1:latest" }] }
  hosted: { api_base: "${openai.apiBase}", models: [gpt-4o-mini] }
models:
  smart: { endpoints: [{ provider: ollama, service_id: llama3.1 }, { provider: hosted, service_id: gpt-4o-mini }] }
`;
  const router = await startRouter({
    config: `health: { failures: 2, cooldown_secs: 60 }\n${providers}`,
  });
  const dir = await Deno.makeTempDir();
  try {
    const client = new OpenAI({ baseURL: router.apiBase, apiKey: "x", maxRetries: 0 });
    ollama.fault = { type: "status", status: 503 };
    for (let i = 0; i < 3; i++) {
      const { response } = await client.chat.completions.create({
        model: "smart",
        messages: [{ role: "user", content: "hi" }],
      }).withResponse();
      assert.equal(response.headers.get("x-bitrouter-provider"), "hosted");
      assert.equal(response.headers.get("x-bitrouter-attempts"), i < 2 ? "2" : "1");
    }
    assert.equal(ollama.requests.filter((r) => r.path === "/v1/chat/completions").length, 2);
    assert.equal(router.stderr().match(/cooling down for 60s/g)?.length, 1, router.stderr());

    const port = new URL(router.url).port;
    await Deno.writeTextFile(
      `${dir}/bitrouter.yaml`,
      `server: { listen: "127.0.0.1:${port}" }\n${providers}`,
    );
    const out = await runCli(["route", "smart"], { cwd: dir });
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stdout.trim().split("\n");
    assert.match(lines[0], /health from the bitrouter running at 127\.0\.0\.1:\d+/);
    assert.match(lines[2], /^1\s+hosted\s+gpt-4o-mini\s.*\sactive(\s+-)?$/);
    assert.match(lines[3], /^2\s+ollama\s+llama3\.1:latest\s.*cooling \d+s \(2 failed: 503 /);
  } finally {
    await router.stop();
    await Promise.all([ollama.close(), openai.close(), Deno.remove(dir, { recursive: true })]);
  }
});
