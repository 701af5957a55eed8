/**
 * The discovery component against fake servers on loopback: rounds are driven explicitly, the
 * route table is read through the real HTTP handler, as `bitrouter serve` wires them.
 */
import assert from "node:assert/strict";
import { parseConfig, zeroConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/types.ts";
import { createDiscovery, type Discovery } from "../../src/discovery/discovery.ts";
import { reportingFetch } from "../../src/discovery/report_fetch.ts";
import { hostedBuiltIns } from "../../src/discovery/zero_config.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { createHandler } from "../../src/proxy/handler.ts";
import { resolveCandidates } from "../../src/routing/resolve.ts";
import { type FakeUpstream, refusedApiBase, startFake } from "../fakes/upstream.ts";

/** A handler over discovery's live table, with the proxy's fetch reporting unreachable servers. */
function handlerOver(discovery: Discovery, fetchFn: typeof fetch = fetch) {
  return createHandler({
    routes: discovery.routes,
    fetch: reportingFetch(fetchFn, discovery.reportUnreachable),
    now: () => performance.now(),
    log: silentLogger,
  });
}

async function listed(handle: (r: Request) => Promise<Response>): Promise<string[]> {
  const res = await handle(new Request("http://bitrouter.test/v1/models"));
  const body = await res.json() as { data: { id: string }[] };
  return body.data.map((m) => m.id);
}

async function chat(handle: (r: Request) => Promise<Response>, model: string) {
  const res = await handle(
    new Request("http://bitrouter.test/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
    }),
  );
  const body = await res.json();
  return { status: res.status, provider: res.headers.get("x-bitrouter-provider"), body };
}

function zeroConfigWith(env: Record<string, string> = {}): Config {
  const config = zeroConfig();
  config.providers = hostedBuiltIns((name) => env[name]);
  return config;
}

/** Runs fn with fakes that are closed afterwards, whatever happens. */
async function withFakes(
  fakes: FakeUpstream[],
  fn: () => Promise<void>,
): Promise<void> {
  try {
    await fn();
  } finally {
    await Promise.all(fakes.map((f) => f.close()));
  }
}

Deno.test("startup round: every server found is routable under its kind's id, with its models", async () => {
  const ollama = await startFake({ kind: "ollama", models: ["llama3.1:latest", "qwen2.5:7b"] });
  const lmstudio = await startFake({ kind: "lmstudio" });
  await withFakes([ollama, lmstudio], async () => {
    const discovery = createDiscovery({
      config: zeroConfigWith(),
      targets: [ollama.url, lmstudio.url],
      fetch,
    });
    assert.equal(await discovery.runRound(), true);
    assert.deepEqual(
      discovery.servers().map((s) => [s.id, s.kind, s.models]),
      [
        ["ollama", "ollama", ["llama3.1:latest", "qwen2.5:7b"]],
        ["lmstudio", "lmstudio", ["qwen2.5-7b-instruct"]],
      ],
    );
    const handle = handlerOver(discovery);
    assert.deepEqual(await listed(handle), [
      "llama3.1:latest",
      "qwen2.5-7b-instruct",
      "qwen2.5:7b",
    ]);
    // Ollama's short name, its full name and the pin all answer, from Ollama.
    for (const model of ["llama3.1", "llama3.1:latest", "ollama:llama3.1"]) {
      const r = await chat(handle, model);
      assert.equal(r.status, 200, `${model}: ${JSON.stringify(r.body)}`);
      assert.equal(r.provider, "ollama", model);
    }
    assert.equal((await chat(handle, "lmstudio:qwen2.5-7b-instruct")).status, 200);
    // Ollama has loaded llama3.1 now: the next round sees it; one after that finds nothing new
    // and keeps the same table.
    assert.equal(await discovery.runRound(), true);
    assert.deepEqual(discovery.servers()[0].loaded, ["llama3.1:latest"]);
    const before = discovery.routes();
    assert.equal(await discovery.runRound(), false);
    assert.equal(discovery.routes(), before);
  });
});

Deno.test("a server started between rounds appears, one that stops is down and skipped, and it comes back", async () => {
  const target = new URL(await refusedApiBase()).origin;
  const port = Number(new URL(target).port);
  const discovery = createDiscovery({ config: zeroConfigWith(), targets: [target], fetch });
  const handle = handlerOver(discovery);
  await discovery.runRound();
  assert.deepEqual(await listed(handle), []);
  const before = await chat(handle, "qwen2.5-7b-instruct");
  assert.equal(before.status, 404);

  let vllm = await startFake({ kind: "vllm", models: ["Qwen/Qwen2.5-7B-Instruct"], port });
  await withFakes([vllm], async () => {
    assert.equal(await discovery.runRound(), true);
    assert.deepEqual(await listed(handle), ["Qwen/Qwen2.5-7B-Instruct"]);
    assert.equal((await chat(handle, "Qwen/Qwen2.5-7B-Instruct")).status, 200);
  });

  // Stopped: the next round marks it down; its model leaves the list; a request fails fast
  // with a message naming the server, and no connection is attempted.
  assert.equal(await discovery.runRound(), true);
  assert.deepEqual(await listed(handle), []);
  let attempts = 0;
  const counting = handlerOver(discovery, (input, init) => {
    attempts++;
    return fetch(input, init);
  });
  const down = await chat(counting, "Qwen/Qwen2.5-7B-Instruct");
  assert.equal(down.status, 503);
  assert.equal(down.body.error.code, "provider_down");
  assert.match(down.body.error.message, /provider vllm is down since .*connection refused/);
  assert.equal((await chat(counting, "vllm:Qwen/Qwen2.5-7B-Instruct")).status, 503);
  assert.equal(attempts, 0, "a down server got a connection attempt");
  assert.match(discovery.config().providers[0].downReason ?? "", /^down since/);

  vllm = await startFake({ kind: "vllm", models: ["Qwen/Qwen2.5-7B-Instruct"], port });
  await withFakes([vllm], async () => {
    assert.equal(await discovery.runRound(), true);
    assert.deepEqual(await listed(handle), ["Qwen/Qwen2.5-7B-Instruct"]);
    const back = await chat(handle, "Qwen/Qwen2.5-7B-Instruct");
    assert.equal(back.status, 200);
    assert.equal(back.provider, "vllm");
  });
});

Deno.test("a server's kind, not its port, names it; a second one of a kind gets its port", async () => {
  // llama-server started on vLLM's usual kind of port is still llama.cpp.
  const first = await startFake({ kind: "llamacpp", models: ["model-a.gguf"] });
  const second = await startFake({ kind: "llamacpp", models: ["model-b.gguf"] });
  await withFakes([first, second], async () => {
    const discovery = createDiscovery({
      config: zeroConfigWith(),
      targets: [first.url, second.url],
      fetch,
    });
    await discovery.runRound();
    const port = new URL(second.url).port;
    assert.deepEqual(discovery.servers().map((s) => [s.id, s.kind]), [
      ["llamacpp", "llamacpp"],
      [`llamacpp-${port}`, "llamacpp"],
    ]);
    const r = resolveCandidates(discovery.routes(), `llamacpp-${port}:anything`);
    assert.equal(r.candidates[0].provider.apiBase, second.apiBase);
  });
});

Deno.test("Ollama's `name` and `name:latest` are one model; the list shows the server's own name", async () => {
  const ollama = await startFake({ kind: "ollama", models: ["llama3.1:latest", "qwen2.5:7b"] });
  await withFakes([ollama], async () => {
    const discovery = createDiscovery({ config: zeroConfigWith(), targets: [ollama.url], fetch });
    await discovery.runRound();
    const table = discovery.routes();
    for (const asked of ["llama3.1", "llama3.1:latest"]) {
      const r = resolveCandidates(table, asked);
      assert.deepEqual(r.candidates.map((c) => `${c.provider.id}/${c.model}`), [
        "ollama/llama3.1:latest",
      ]);
    }
    // Only `latest` has a short form: `qwen2.5` is not `qwen2.5:7b`.
    assert.throws(() => resolveCandidates(table, "qwen2.5"), /not available/);
    const ids = await listed(handlerOver(discovery));
    assert.ok(ids.includes("llama3.1:latest") && !ids.includes("llama3.1"), ids.join(" "));
  });
});

Deno.test("warm preference: the server that has the model loaded now is tried first, then target order", async () => {
  const cold = await startFake({ kind: "ollama", models: ["llama3.1:latest"] });
  const cold2 = await startFake({ kind: "ollama", models: ["llama3.1:latest"] });
  const warm = await startFake({
    kind: "ollama",
    models: ["llama3.1:latest"],
    loaded: ["llama3.1:latest"],
  });
  await withFakes([cold, cold2, warm], async () => {
    const orderFor = async (targets: FakeUpstream[]) => {
      const discovery = createDiscovery({
        config: zeroConfigWith(),
        targets: targets.map((t) => t.url),
        fetch,
      });
      await discovery.runRound();
      const r = resolveCandidates(discovery.routes(), "llama3.1");
      return { discovery, order: r.candidates.map((c) => c.provider.apiBase) };
    };
    // Neither loaded: the order of the targets decides.
    assert.deepEqual((await orderFor([cold2, cold])).order, [cold2.apiBase, cold.apiBase]);
    // Loaded beats order, whichever way round the targets are.
    assert.deepEqual((await orderFor([warm, cold])).order, [warm.apiBase, cold.apiBase]);
    const { discovery, order } = await orderFor([cold, warm]);
    assert.deepEqual(order, [warm.apiBase, cold.apiBase]);
    const r = await chat(handlerOver(discovery), "llama3.1");
    assert.equal(r.status, 200);
    assert.equal(warm.requests.filter((q) => q.path === "/v1/chat/completions").length, 1);
    assert.equal(cold.requests.filter((q) => q.path === "/v1/chat/completions").length, 0);
  });
});

Deno.test("a request that cannot connect marks its server down; later requests skip it at once", async () => {
  const ollama = await startFake({ kind: "ollama" });
  const discovery = createDiscovery({
    config: zeroConfigWith(),
    targets: [ollama.url],
    fetch,
    intervalMs: 3_600_000,
  });
  try {
    const first = discovery.nextRound();
    discovery.start();
    await first;
    await ollama.close();
    let attempts = 0;
    const handle = handlerOver(discovery, (input, init) => {
      attempts++;
      return fetch(input, init);
    });
    const failed = await chat(handle, "llama3.1");
    assert.equal(failed.status, 502, JSON.stringify(failed.body));
    assert.equal(attempts, 1);
    const fast = await chat(handle, "llama3.1");
    assert.equal(fast.status, 503);
    assert.match(fast.body.error.message, /ollama is down since .*connection refused/);
    assert.equal(attempts, 1, "the down server was tried again");
  } finally {
    await discovery.stop();
  }
});

Deno.test("a failed request does not mark a server down when nothing would probe it back", async () => {
  const discovery = createDiscovery({
    config: parseConfig(
      `providers:\n  gone:\n    api_base: ${await refusedApiBase()}\n    models: [m]\n`,
      "/t.yaml",
      { env: () => undefined },
    ),
    fetch,
  });
  const handle = handlerOver(discovery);
  assert.equal((await chat(handle, "m")).status, 502);
  assert.equal((await chat(handle, "m")).status, 502, "marked down without background rounds");
});

Deno.test("zero-config enables each hosted provider whose key is set, with its models from /models", async () => {
  const openai = await startFake({
    kind: "openai",
    apiKey: "sk-test",
    models: ["gpt-4o-mini", "gpt-5-nano"],
  });
  await withFakes([openai], async () => {
    // The real api.openai.com is reached through a fetch that sends it to the fake.
    const toFake: typeof fetch = (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      return fetch(url.replace("https://api.openai.com/v1", openai.apiBase), init);
    };
    let now = 1_000_000;
    const discovery = createDiscovery({
      config: zeroConfigWith({ OPENAI_API_KEY: "sk-test" }),
      targets: [],
      fetch: toFake,
      now: () => now,
    });
    const providers = discovery.config().providers;
    assert.equal(providers.find((p) => p.id === "openai")?.inactiveReason, undefined);
    assert.equal(
      providers.find((p) => p.id === "anthropic")?.inactiveReason,
      "ANTHROPIC_API_KEY unset",
    );
    // Until the list is fetched, the built-in well-known ids cascade; pins always work.
    assert.ok(await listed(handlerOver(discovery, toFake)).then((ids) => ids.includes("gpt-4o")));
    await discovery.runRound({ hosted: true });
    const handle = handlerOver(discovery, toFake);
    assert.deepEqual(await listed(handle), ["gpt-4o-mini", "gpt-5-nano"]);
    const pinned = await chat(handle, "openai:gpt-4o-mini");
    assert.equal(pinned.status, 200, JSON.stringify(pinned.body));
    assert.equal(pinned.provider, "openai");
    assert.equal((await chat(handle, "anthropic:claude-haiku-4-5")).status, 404);

    // The list is cached: the next rounds within the hour do not ask again.
    const asked = () => openai.requests.filter((r) => r.path === "/v1/models").length;
    assert.equal(asked(), 1);
    await discovery.runRound({ hosted: true });
    assert.equal(asked(), 1);
    now += 3_600_000;
    await discovery.runRound({ hosted: true });
    assert.equal(asked(), 2);
  });
});

Deno.test("auto_discover: true keeps a configured server's model list live", async () => {
  const llama = await startFake({ kind: "llamacpp", models: ["served.gguf"] });
  const config = parseConfig(
    `
providers:
  box:
    api_base: ${llama.apiBase}
    auto_discover: true
    models: [{ id: fast, provider_model_id: served.gguf }]
  static:
    api_base: ${llama.apiBase.replace("/v1", "/static/v1")}
    models: [other]
`,
    "/t.yaml",
    { env: () => undefined },
  );
  const discovery = createDiscovery({ config, fetch });
  try {
    await discovery.runRound();
    const handle = handlerOver(discovery);
    assert.deepEqual(await listed(handle), ["fast", "other", "served.gguf"]);
    const box = discovery.config().providers.find((p) => p.id === "box")!;
    assert.equal(box.kind, "llamacpp");
    assert.equal((await chat(handle, "served.gguf")).provider, "box");
  } finally {
    await llama.close();
  }
  assert.equal(await discovery.runRound(), true);
  assert.match(
    discovery.config().providers.find((p) => p.id === "box")?.downReason ?? "",
    /connection refused/,
  );
  // A provider without auto_discover is not probed, and stays as configured.
  assert.equal(discovery.config().providers.find((p) => p.id === "static")?.downReason, undefined);
});

Deno.test("background rounds run every interval until stopped, and stop leaves nothing running", async () => {
  const ollama = await startFake({ kind: "ollama" });
  await withFakes([ollama], async () => {
    const discovery = createDiscovery({
      config: zeroConfigWith(),
      targets: [ollama.url],
      fetch,
      intervalMs: 5,
    });
    for (let i = 0; i < 3; i++) {
      const next = discovery.nextRound();
      if (i === 0) discovery.start();
      await next;
    }
    await discovery.stop();
    const seen = ollama.requests.length;
    assert.ok(seen >= 3, `only ${seen} probe requests`);
    // start after stop does nothing: the component is done.
    discovery.start();
    assert.equal(ollama.requests.length, seen);
  });
});

Deno.test("zero-config leaves a hosted provider inactive when its key variable could not be sent", () => {
  const [openai] = hostedBuiltIns((name) => name === "OPENAI_API_KEY" ? "sk-abc\u0000def" : "");
  assert.equal(openai.id, "openai");
  assert.equal(openai.apiKey, undefined);
  assert.match(openai.inactiveReason!, /^OPENAI_API_KEY holds a line break, another control/);
});
