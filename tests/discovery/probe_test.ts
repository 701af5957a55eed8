import assert from "node:assert/strict";
import { probeServer } from "../../src/discovery/probe.ts";
import type { ServerKind } from "../../src/config/types.ts";
import { type FakeKind, refusedApiBase, startFake } from "../fakes/upstream.ts";

function probe(origin: string, known?: ServerKind) {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), 2000);
  return probeServer(fetch, origin, deadline.signal, { known }).finally(() => clearTimeout(timer));
}

Deno.test("each kind of server is identified from its own answers, on a non-default port", async () => {
  const expected: [FakeKind, string][] = [
    ["ollama", "ollama"],
    ["vllm", "vllm"],
    ["lmstudio", "lmstudio"],
    ["llamacpp", "llamacpp"],
    ["openai", "openai"],
  ];
  for (const [fakeKind, kind] of expected) {
    const fake = await startFake({ kind: fakeKind });
    try {
      const outcome = await probe(fake.url);
      assert.equal(outcome.status, "up", `${fakeKind}: ${JSON.stringify(outcome)}`);
      if (outcome.status !== "up") continue;
      assert.equal(outcome.kind, kind, fakeKind);
      assert.ok(outcome.models.length > 0, `${fakeKind} lists no models`);
      // A llama.cpp or vLLM server only serves what it has loaded.
      if (kind === "vllm" || kind === "llamacpp") assert.equal(outcome.loaded, "all");
    } finally {
      await fake.close();
    }
  }
});

Deno.test("Ollama's models come from /api/tags and the loaded ones from /api/ps", async () => {
  const fake = await startFake({
    kind: "ollama",
    models: ["llama3.1:latest", "qwen2.5:7b"],
    loaded: ["qwen2.5:7b"],
  });
  try {
    const outcome = await probe(fake.url);
    assert.deepEqual(outcome, {
      status: "up",
      kind: "ollama",
      models: ["llama3.1:latest", "qwen2.5:7b"],
      loaded: ["qwen2.5:7b"],
    });
    const paths = fake.requests.map((r) => r.path);
    assert.ok(paths.includes("/api/tags") && paths.includes("/api/ps"), paths.join(" "));
    // Once the kind is known, a round asks only what that kind answers.
    const before = fake.requests.length;
    await probe(fake.url, "ollama");
    assert.deepEqual(fake.requests.slice(before).map((r) => r.path).sort(), [
      "/api/ps",
      "/api/tags",
    ]);
  } finally {
    await fake.close();
  }
});

Deno.test("a refused port is down; a web server that lists no models is not a model server", async () => {
  const refused = new URL(await refusedApiBase()).origin;
  const outcome = await probe(refused);
  assert.deepEqual(outcome, { status: "down", reason: "connection refused" });

  const web = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("<html>not found</html>", { status: 404 }),
  );
  try {
    const other = await probe(`http://127.0.0.1:${web.addr.port}`);
    assert.equal(other.status, "other");
  } finally {
    await web.shutdown();
  }
});

Deno.test("a server that does not answer in time is down, not waited for", async () => {
  const fake = await startFake({ kind: "ollama" });
  fake.fault = { type: "hang" };
  try {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), 100);
    const started = performance.now();
    const outcome = await probeServer(fetch, fake.url, deadline.signal);
    clearTimeout(timer);
    assert.deepEqual(outcome, { status: "down", reason: "no answer in time" });
    assert.ok(performance.now() - started < 1000);
  } finally {
    await fake.close();
  }
});

Deno.test("a llama.cpp server's total_slots is read from /props, when identified and when already known", async () => {
  const fake = await startFake({ kind: "llamacpp", slots: 3 });
  try {
    const found = await probe(fake.url);
    assert.equal(found.status === "up" && found.slots, 3);
    const again = await probe(fake.url, "llamacpp");
    assert.equal(again.status === "up" && again.slots, 3, "each round reads it again");
    const other = await startFake({ kind: "vllm" });
    try {
      const vllm = await probe(other.url);
      assert.equal(vllm.status === "up" && vllm.slots, undefined, "vLLM reports no slots");
    } finally {
      await other.close();
    }
  } finally {
    await fake.close();
  }
});
