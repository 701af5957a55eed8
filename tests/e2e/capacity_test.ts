import assert from "node:assert/strict";
import { startRouter, until } from "./helpers.ts";
import { startFake } from "../fakes/upstream.ts";
import { runCli } from "./cli.ts";

/**
 * Capacity end to end (SPEC §3.5): the real CLI in front of fakes that behave like llama-server
 * — a few slots, the rest queued inside the server, `total_slots` on `/props`.
 */

const MODEL = "Llama-3.1-8B-Instruct-Q4_K_M.gguf";

async function ask(
  base: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  const started = performance.now();
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const ttfbMs = performance.now() - started;
  await res.body?.cancel();
  return { res, ttfbMs };
}

Deno.test("a llama.cpp server's total_slots is its cap: 8 simultaneous requests are 2 local and 6 hosted", async () => {
  const local = await startFake({ kind: "llamacpp", slots: 2, workMs: 300 });
  const hosted = await startFake({ kind: "openai" });
  const router = await startRouter({
    config: `
providers:
  llamacpp:
    api_base: ${local.apiBase}
    auto_discover: true
  hosted:
    api_base: ${hosted.apiBase}
    models: [gpt-4o-mini]
models:
  smart:
    endpoints:
      - { provider: llamacpp, service_id: "${MODEL}" }
      - { provider: hosted, service_id: gpt-4o-mini }
`,
  });
  try {
    // Discovery reads /props; the status shows the cap it found.
    await until(
      async () => {
        const s = await (await fetch(`${router.url}/v1/bitrouter/status`)).json();
        return s.capacity.endpoints.some((e: { provider: string; max_concurrent: number }) =>
          e.provider === "llamacpp" && e.max_concurrent === 2
        );
      },
      5000,
      "the llama.cpp cap in the status",
    );
    const answers = await Promise.all(
      Array.from(
        { length: 8 },
        () => ask(router.url, { model: "smart", messages: [{ role: "user", content: "hi" }] }),
      ),
    );
    const by = answers.map((a) => a.res.headers.get("x-bitrouter-provider"));
    assert.deepEqual(
      [by.filter((p) => p === "llamacpp").length, by.filter((p) => p === "hosted").length],
      [2, 6],
    );
    assert.equal(local.maxActive, 2, "the server never had more than its slots");
    const status = await (await fetch(`${router.url}/v1/bitrouter/status`)).json();
    const entry = status.capacity.endpoints.find((e: { provider: string }) =>
      e.provider === "llamacpp"
    );
    assert.equal(entry.in_flight, 0, "every slot released");
  } finally {
    await router.stop();
    await local.close();
    await hosted.close();
  }
});

Deno.test("prompt-cache affinity: later turns go back to the server that has the conversation cached (time to first byte printed)", async () => {
  const cache = { hitMs: 10, missMs: 200 };
  const a = await startFake({ kind: "llamacpp", slots: 2, promptCache: cache });
  const b = await startFake({ kind: "llamacpp", slots: 2, promptCache: cache });
  const router = await startRouter({
    config: `
providers:
  a: { api_base: "${a.apiBase}", max_concurrent: 2, models: ["${MODEL}"] }
  b: { api_base: "${b.apiBase}", max_concurrent: 2, models: ["${MODEL}"] }
models:
  local:
    strategy: balance
    endpoints:
      - { provider: a, service_id: "${MODEL}" }
      - { provider: b, service_id: "${MODEL}" }
`,
  });
  /** Later turns' mean time to first byte over `conversations`, each of 3 turns, one at a time. */
  const laterTurnsMs = async (tag: string, sessionPerTurn: boolean) => {
    const times: number[] = [];
    for (let c = 0; c < 4; c++) {
      const messages: { role: string; content: string }[] = [
        { role: "system", content: "You are terse." },
        { role: "user", content: `${tag} conversation ${c}` },
      ];
      for (let turn = 1; turn <= 3; turn++) {
        // A fresh session id per turn makes every turn a stranger: plain balance.
        const headers: Record<string, string> = sessionPerTurn
          ? { "x-bitrouter-session": `${tag}-${c}-${turn}` }
          : {};
        const { res, ttfbMs } = await ask(router.url, { model: "local", messages }, headers);
        assert.equal(res.status, 200);
        if (turn > 1) times.push(ttfbMs);
        messages.push({ role: "assistant", content: "ok" }, {
          role: "user",
          content: `turn ${turn + 1}`,
        });
      }
    }
    return times.reduce((x, y) => x + y, 0) / times.length;
  };
  try {
    const plain = await laterTurnsMs("plain", true);
    const affine = await laterTurnsMs("affine", false);
    console.log(
      `prompt-cache affinity: later turns' time to first byte ${
        affine.toFixed(0)
      } ms with affinity, ${plain.toFixed(0)} ms with plain balance (${
        (plain / affine).toFixed(1)
      }x; fake cache hit ${cache.hitMs} ms, miss ${cache.missMs} ms)`,
    );
    assert.ok(
      affine < cache.missMs / 2,
      `affinity keeps turns on the cached server (${affine} ms)`,
    );
    assert.ok(plain > affine * 2, `plain balance moves turns away from their cache (${plain} ms)`);
  } finally {
    await router.stop();
    await a.close();
    await b.close();
  }
});

Deno.test("bitrouter route and providers show in flight / cap from the running bitrouter, and the configured caps without one", async () => {
  const local = await startFake({ kind: "llamacpp", slots: 1, workMs: 5000 });
  const config = `
providers:
  llamacpp:
    api_base: ${local.apiBase}
    max_concurrent: 1
    rate_limits:
      - "*": { requests_per_minute: 100 }
    models: ["${MODEL}"]
`;
  const router = await startRouter({ config });
  const dir = await Deno.makeTempDir({ prefix: "bitrouter-capacity-" });
  const port = new URL(router.url).port;
  const live = `${dir}/live.yaml`;
  const offline = `${dir}/offline.yaml`;
  await Deno.writeTextFile(live, `server: { listen: "127.0.0.1:${port}" }\n${config}`);
  await Deno.writeTextFile(offline, `server: { listen: "127.0.0.1:9" }\n${config}`);
  const leave = new AbortController();
  const held = fetch(`${router.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }] }),
    signal: leave.signal,
  }).catch(() => undefined);
  try {
    await until(() => local.active === 1, 3000, "the request at the server");
    const env = { BITROUTER_DISCOVERY: "off" };
    const route = await runCli(["route", MODEL, "-c", live], { env });
    assert.equal(route.code, 0, route.stderr);
    assert.match(route.stdout, /CAPACITY/);
    assert.match(route.stdout, /1\/1 in flight, \* 1\/100 rpm/);
    const providers = await runCli(["providers", "-c", live], { env });
    assert.match(providers.stdout, /1\/1 in flight/);
    const off = await runCli(["providers", "-c", offline], { env });
    assert.match(off.stdout, /max 1, \* 100 rpm/);
  } finally {
    leave.abort();
    await held;
    await router.stop();
    await local.close();
    await Deno.remove(dir, { recursive: true });
  }
});
