import assert from "node:assert/strict";
import parsePrometheus from "parse-prometheus-text-format";
import { runCli } from "./cli.ts";
import { startRouter, until } from "./helpers.ts";

/**
 * One fake server on loopback standing in for a local box and a hosted API: chat answers that
 * report usage (100 in, 20 out), except model `silent`, which reports none.
 */
function startUpstream() {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.json();
    const usage = body.model === "silent"
      ? undefined
      : { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 };
    const head = { id: "c1", object: "chat.completion.chunk", created: 1, model: body.model };
    if (body.stream) {
      const events: Record<string, unknown>[] = [
        { ...head, choices: [{ index: 0, delta: { content: "Hi" } }] },
        { ...head, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
      ];
      if (body.stream_options?.include_usage && usage) events.push({ ...head, choices: [], usage });
      const text = events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("") +
        "data: [DONE]\n\n";
      return new Response(text, { headers: { "content-type": "text/event-stream" } });
    }
    return Response.json({
      id: "c1",
      object: "chat.completion",
      created: 1,
      model: body.model,
      choices: [{ index: 0, message: { role: "assistant", content: "Hi" }, finish_reason: "stop" }],
      ...(usage ? { usage } : {}),
    });
  });
  const { port } = server.addr as Deno.NetAddr;
  return { base: `http://127.0.0.1:${port}`, close: () => server.shutdown() };
}

const KEY = "test-key-usage";

function configFor(upstream: string, databaseUrl: string): string {
  return `
server: { skip_auth: false, api_keys: ["${KEY}"], log_level: info }
discovery: { enabled: false }
database: { url: "${databaseUrl}" }
providers:
  box:
    api_base: ${upstream}/v1
    models: [llama, silent]
  cloud:
    api_base: ${upstream}/v1
    local: false
    models:
      - id: big
        pricing: { input_micro_usd_per_token: 2, output_micro_usd_per_token: 10 }
models:
  smart:
    endpoints:
      - { provider: box, service_id: llama }
      - { provider: cloud, service_id: big }
`;
}

async function chat(url: string, model: string, stream = false): Promise<Response> {
  return await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], stream }),
  });
}

type Family = {
  name: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string> }[];
};

function valueOf(families: Family[], name: string, labels: Record<string, string>): number {
  const family = families.find((f) => f.name === name);
  assert.ok(family, `no ${name} in the scrape`);
  return family.metrics
    .filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    .reduce((n, m) => n + Number(m.value), 0);
}

Deno.test("after a known sequence, /metrics and `bitrouter usage` report the requests, tokens and cost", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitrouter-usage-" });
  const upstream = startUpstream();
  const db = `${dir}/usage.db`;
  const router = await startRouter({ config: configFor(upstream.base, `sqlite://${db}`) });
  let stopped = false;
  try {
    // 2 local through the virtual model (plain, streamed), 1 hosted, 1 local without usage,
    // 1 pinned to an undeclared model, 1 unknown model.
    const plain = await chat(router.url, "smart");
    assert.equal(plain.status, 200);
    await plain.text();
    const streamed = await chat(router.url, "smart", true);
    const text = await streamed.text();
    assert.ok(!text.includes('"choices":[]'), "the usage chunk BitRouter asked for is not relayed");
    assert.equal((await (await chat(router.url, "big")).text()).includes("Hi"), true);
    assert.equal((await chat(router.url, "silent")).status, 200);
    // A pin to a model the config does not declare: served, but its label is `other`.
    const pinned = await chat(router.url, "box:made-up");
    assert.equal(pinned.status, 200);
    await pinned.text();
    const missing = await chat(router.url, "nope");
    assert.equal(missing.status, 404);
    await missing.text();

    const locked = await fetch(`${router.url}/metrics`);
    assert.equal(locked.status, 401, "behind the same key as /v1");
    await locked.text();
    const scrape = await fetch(`${router.url}/metrics`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    assert.equal(scrape.status, 200);
    assert.match(scrape.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const exposition = await scrape.text();
    const families = parsePrometheus(exposition) as Family[];
    const requests = (labels: Record<string, string>) =>
      valueOf(families, "bitrouter_requests_total", labels);
    assert.equal(requests({ provider: "box", model: "smart", status_class: "2xx" }), 2);
    assert.equal(requests({ provider: "box", model: "silent", status_class: "2xx" }), 1);
    assert.equal(requests({ provider: "cloud", model: "big", status_class: "2xx" }), 1);
    // A model id the config does not know folds into `other`.
    assert.equal(requests({ provider: "box", model: "other", status_class: "2xx" }), 1);
    assert.equal(requests({ protocol: "chat_completions", status_class: "4xx" }), 1);
    assert.equal(
      valueOf(families, "bitrouter_tokens_total", { provider: "box", direction: "input" }),
      300,
    );
    assert.equal(
      valueOf(families, "bitrouter_tokens_total", { provider: "cloud", direction: "output" }),
      20,
    );
    assert.ok(
      Math.abs(valueOf(families, "bitrouter_cost_usd_total", { provider: "cloud" }) - 0.0004) <
        1e-12,
    );
    assert.equal(valueOf(families, "bitrouter_cost_usd_total", { provider: "box" }), 0);
    assert.equal(
      valueOf(families, "bitrouter_requests_without_usage_total", { provider: "box" }),
      1,
    );
    const ttfb = families.find((f) => f.name === "bitrouter_time_to_first_byte_seconds")!;
    assert.equal(ttfb.type, "HISTOGRAM");
    // parse-prometheus-text-format 1.1.1 keeps no labels on histogram series (it merges them),
    // so the per-series counts are read from the text: one observation per served request.
    const counts = [
      ...exposition.matchAll(/^bitrouter_time_to_first_byte_seconds_count\{[^}]*\} (\d+)$/gm),
    ].map((m) => Number(m[1]));
    assert.equal(counts.reduce((a, b) => a + b, 0), 5);
    assert.match(
      exposition,
      /^bitrouter_request_duration_seconds_bucket\{protocol="chat_completions",provider="cloud",le="\+Inf"\} 1$/m,
    );
    assert.equal(valueOf(families, "bitrouter_usage_rows_lost_total", {}), 0);
    assert.equal(valueOf(families, "bitrouter_provider_up", { provider: "cloud" }), 1);

    // The log line carries tokens and cost.
    await router.waitForStderr(
      /-> cloud:big .*tokens_in=100 tokens_out=20 .*cost_usd=0\.0004/,
      5000,
    );
    stopped = true;
    assert.equal((await router.stop()).code, 0);

    // `bitrouter usage` reads the store the server wrote (flushed at shutdown).
    const cli = `${dir}/cli.yaml`;
    await Deno.writeTextFile(cli, `database: { url: "sqlite://${db}" }\n`);
    const json = await runCli(["usage", "-c", cli, "--since", "1h", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    const group = (name: string) =>
      report.groups.find((g: { provider: string }) => g.provider === name);
    assert.deepEqual(
      { ...group("box"), p50_ttfb_ms: typeof group("box").p50_ttfb_ms },
      {
        provider: "box",
        requests: 4,
        errors: 0,
        requests_without_usage: 1,
        input_tokens: 300,
        output_tokens: 60,
        p50_ttfb_ms: "number",
        cost_usd: 0,
        unpriced_requests: 1,
      },
    );
    assert.equal(group("cloud").cost_usd, 0.0004);
    // Served by no provider: the unknown model (404) and the scrape without a key (401).
    assert.deepEqual([group("-").requests, group("-").errors], [2, 2]);
    assert.deepEqual(report.summary, {
      local: {
        requests: 4,
        input_tokens: 300,
        output_tokens: 60,
        // smart's hosted endpoint for the two through it; the reference model for the pin.
        hosted_equivalent_usd: 0.0008 + 0.000027,
        compared_with: ["cloud:big", "gpt-4o-mini"],
      },
      hosted: { requests: 1, input_tokens: 100, output_tokens: 20, cost_usd: 0.0004 },
    });

    const byModel = await runCli(["usage", "-c", cli, "--by", "model", "--json"]);
    const models = JSON.parse(byModel.stdout).groups.map((g: { model: string }) => g.model).sort();
    assert.deepEqual(models, ["-", "big", "box:made-up", "nope", "silent", "smart"]);

    const byKey = await runCli(["usage", "-c", cli, "--by", "key", "--json"]);
    assert.deepEqual(
      JSON.parse(byKey.stdout).groups.map((g: { key: string; requests: number }) => [
        g.key,
        g.requests,
      ]),
      // Six requests with the key (the 404 too), the scrape without one.
      [["key 1", 6], ["-", 1]],
    );

    const human = await runCli(["usage", "-c", cli]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(
      human.stdout,
      /PROVIDER\s+REQUESTS\s+ERRORS\s+TOKENS IN\s+TOKENS OUT\s+P50 TTFB\s+COST/,
    );
    assert.match(human.stdout, /^box\s+4\s+0\s+300\s+60\s+\d+ ms\s+\$0\.0000/m);
    assert.match(
      human.stdout,
      /local: 4 requests, 300 tokens in, 60 out — on cloud:big, gpt-4o-mini they would have cost \$0\.000827/,
    );
    assert.match(human.stdout, /hosted: 1 requests, 100 tokens in, 20 out, spent \$0\.000400/);

    const misuse = await runCli(["usage", "-c", cli, "--by", "colour"]);
    assert.equal(misuse.code, 2);
    assert.match(misuse.stderr, /--by must be one of provider, model, day, key, protocol/);
  } finally {
    if (!stopped) await router.stop();
    await upstream.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a usage store that cannot be written never fails a request: rows are counted as lost", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitrouter-usage-" });
  const upstream = startUpstream();
  // Under a regular file: unwritable for everyone, root included.
  await Deno.writeTextFile(`${dir}/file`, "");
  const router = await startRouter({
    config: configFor(upstream.base, `sqlite://${dir}/file/usage.db`).replace(
      "skip_auth: false",
      // No file watch: only the SIGHUPs below reload.
      "skip_auth: false, metrics_public: true, watch: false",
    ),
  });
  try {
    for (let i = 0; i < 3; i++) {
      const res = await chat(router.url, "smart");
      assert.equal(res.status, 200);
      await res.text();
    }
    let lost = 0;
    await until(
      async () => {
        const scrape = await fetch(`${router.url}/metrics`);
        assert.equal(scrape.status, 200, "metrics_public: no key needed");
        lost = valueOf(
          parsePrometheus(await scrape.text()) as Family[],
          "bitrouter_usage_rows_lost_total",
          {},
        );
        return lost >= 3;
      },
      10_000,
      "lost rows counted",
    );
    assert.equal(lost, 3);
    const errors = router.stderr().match(/cannot be written/g) ?? [];
    assert.equal(errors.length, 1, router.stderr());

    // Reloads are counted by result: one that swaps the config in, one the broken file refuses.
    const from = router.stderr().length;
    router.kill("SIGHUP");
    await router.waitForStderr(/reloaded /, 10_000, from);
    await Deno.writeTextFile(router.configPath, "providers: [not, a, map]\n");
    const later = router.stderr().length;
    router.kill("SIGHUP");
    await router.waitForStderr(/reload \(SIGHUP\) failed/, 10_000, later);
    const scrape = await (await fetch(`${router.url}/metrics`)).text();
    const families = parsePrometheus(scrape) as Family[];
    assert.equal(valueOf(families, "bitrouter_config_reloads_total", { result: "success" }), 1);
    assert.equal(valueOf(families, "bitrouter_config_reloads_total", { result: "failure" }), 1);
  } finally {
    await router.stop();
    await upstream.close();
    await Deno.remove(dir, { recursive: true });
  }
});
