/**
 * A reload swaps the route table under a running handler: endpoint health survives for providers
 * that are still there at the same address, and is forgotten for those that left or moved.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { buildRouteTable, type RouteTable } from "../../src/routing/route_table.ts";
import { createHandler } from "../../src/proxy/handler.ts";
import { silentLogger } from "../../src/observe/log.ts";

const tableOf = (providers: string) =>
  buildRouteTable(
    parseConfig(
      `health: { failures: 1, cooldown_secs: 60 }\nproviders:\n${providers}`,
      "/t.yaml",
      { env: () => undefined },
    ),
  );

const OLLAMA = `  ollama: { api_base: "http://ollama.test/v1", models: [llama3.1] }\n`;
const VLLM = `  vllm: { api_base: "http://vllm.test/v1", models: [qwen] }\n`;

async function statusOf(handler: (r: Request) => Promise<Response>) {
  const res = await handler(new Request("http://x/v1/bitrouter/status"));
  return (await res.json()).endpoints.map((e: { provider: string; state: string }) =>
    `${e.provider}:${e.state}`
  );
}

Deno.test("a table swap keeps the health of providers still at their address, drops the rest", async () => {
  let table: RouteTable = tableOf(OLLAMA + VLLM);
  const handler = createHandler({
    routes: () => table,
    fetch: (() => Promise.resolve(new Response("busy", { status: 503 }))) as typeof fetch,
    now: () => performance.now(),
    log: silentLogger,
  });
  for (const model of ["ollama:llama3.1", "vllm:qwen"]) {
    const res = await handler(
      new Request("http://x/v1/chat/completions", {
        method: "POST",
        body: JSON.stringify({ model, messages: [] }),
      }),
    );
    assert.equal(res.status, 502);
    await res.body?.cancel();
  }
  assert.deepEqual(await statusOf(handler), ["ollama:cooling", "vllm:cooling"]);

  table = tableOf(OLLAMA + VLLM + `  extra: { api_base: "http://extra.test/v1", models: [x] }\n`);
  assert.deepEqual(await statusOf(handler), ["ollama:cooling", "vllm:cooling"]);

  table = tableOf(OLLAMA + VLLM.replace("vllm.test", "gpu-box.test"));
  assert.deepEqual(await statusOf(handler), ["ollama:cooling"], "a moved provider starts afresh");

  table = tableOf(VLLM);
  assert.deepEqual(await statusOf(handler), [], "a provider that left is forgotten");
});
