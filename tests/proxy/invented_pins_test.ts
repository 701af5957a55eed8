import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { buildRouteTable } from "../../src/routing/route_table.ts";
import { createHandler } from "../../src/proxy/handler.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { MAX_HEALTH_RECORDS } from "../../src/routing/health.ts";

const CONFIG = `
server: { skip_auth: true }
providers:
  up:
    api_base: http://up.test/v1
    models: [llama3.1]
`;

Deno.test("5,000 pins to invented models the upstream refuses keep the status answer bounded", async () => {
  // The upstream answers 404 with a long message echoing the model, as some servers do.
  const fakeFetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const { model } = await new Request(input, init).json();
    return Response.json({
      error: { message: `model "${model}" not found, try pulling it first. ${"x".repeat(2000)}` },
    }, { status: 404 });
  };
  const table = buildRouteTable(parseConfig(CONFIG, "/t.yaml", { env: () => undefined }));
  const handler = createHandler({
    routes: () => table,
    fetch: fakeFetch as typeof fetch,
    now: () => performance.now(),
    log: silentLogger,
  });
  const pins = 5_000;
  for (let i = 0; i < pins; i++) {
    const res = await handler(
      new Request("http://127.0.0.1:4356/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: `up:invented-model-${i}`, messages: [] }),
      }),
    );
    assert.equal(res.status, 404);
    await res.body?.cancel();
  }
  const res = await handler(new Request("http://127.0.0.1:4356/v1/bitrouter/status"));
  assert.equal(res.status, 200);
  const text = await res.text();
  const status = JSON.parse(text);
  assert.equal(status.endpoints.length, MAX_HEALTH_RECORDS);
  assert.ok(
    text.length < MAX_HEALTH_RECORDS * 500,
    `the status answer is ${text.length} bytes for ${MAX_HEALTH_RECORDS} records`,
  );
  const models = new Set(status.endpoints.map((e: { model: string }) => e.model));
  assert.ok(models.has(`invented-model-${pins - 1}`), "the most recent failure is kept");
});
