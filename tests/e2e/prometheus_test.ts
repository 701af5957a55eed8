/**
 * A real Prometheus (Debian's `prometheus` package, which `.ci/run` installs) scrapes a running
 * BitRouter after a known sequence of requests; its query API must give back what was sent.
 * Outside CI a machine without `prometheus` on PATH skips the test (visibly); in CI
 * (`CI=true`) a missing binary fails it, since the CI script installs it.
 */
import assert from "node:assert/strict";
import { startFake } from "../fakes/upstream.ts";
import { startRouter, until, within } from "./helpers.ts";

/** The `prometheus` binary on PATH, or undefined. */
function findOnPath(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const info = Deno.statSync(`${dir}/${name}`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return `${dir}/${name}`;
    } catch { /* not here */ }
  }
  return undefined;
}

const PROMETHEUS = findOnPath("prometheus");
const IN_CI = ["true", "1"].includes(Deno.env.get("CI") ?? "");
const SKIP = PROMETHEUS === undefined && !IN_CI;
if (SKIP) {
  console.warn(
    "prometheus_test.ts: skipped, no `prometheus` on PATH " +
      "(install it, e.g. `apt-get install prometheus`, to run the real-Prometheus scrape test)",
  );
}

const KEY = "test-key-prometheus-scrape";
/** Tokens the fake reports per request: 12 in, one out per piece of content. */
const CONTENT = ["Hello", " there"];
const INPUT_PER_REQUEST = 12;
const OUTPUT_PER_REQUEST = CONTENT.length;
/** Micro-USD per token, so each request costs 12 * 2 + 2 * 10 = 44 micro-USD. */
const PRICING = { input_micro_usd_per_token: 2, output_micro_usd_per_token: 10 };

/** A port nothing listens on right now, for Prometheus's own web server. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A short wait between polls of Prometheus's HTTP API (the CPU is shared with other tests). */
const pause = () => new Promise((resolve) => setTimeout(resolve, 100));

interface RunningPrometheus {
  readonly url: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the real `prometheus` with the given config on a free port of 127.0.0.1, its data in a
 * temporary folder; resolves once it answers /-/ready.
 */
async function startPrometheus(binary: string, config: string): Promise<RunningPrometheus> {
  for (let attempt = 1;; attempt++) {
    try {
      return await launchPrometheus(binary, config, freePort());
    } catch (error) {
      // Something took the port between freePort() and Prometheus's bind: take another.
      if (attempt === 3 || !/address already in use/.test(String(error))) throw error;
    }
  }
}

async function launchPrometheus(
  binary: string,
  config: string,
  port: number,
): Promise<RunningPrometheus> {
  const dir = await Deno.makeTempDir({ prefix: "bitrouter-prometheus-" });
  await Deno.writeTextFile(`${dir}/prometheus.yml`, config);
  const child = new Deno.Command(binary, {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--storage.tsdb.path=${dir}/data`,
      "--log.level=warn",
    ],
    // Nothing inherited: no HTTP_PROXY between Prometheus and loopback.
    clearEnv: true,
    env: { HOME: dir },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const bytes of stream) output += decoder.decode(bytes, { stream: true });
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    try {
      await within(status, 10_000, "prometheus exiting after SIGTERM");
    } catch {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await status;
    }
    await drained;
    await Deno.remove(dir, { recursive: true });
  };

  try {
    await until(
      async () => {
        if (exited) throw new Error(`prometheus exited before it was ready:\n${output}`);
        await pause();
        try {
          const res = await fetch(`${url}/-/ready`);
          await res.body?.cancel();
          return res.ok;
        } catch {
          return false;
        }
      },
      30_000,
      `prometheus answering ${url}/-/ready; its output:\n${output}`,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, output: () => output, stop };
}

interface Target {
  labels: { job: string };
  health: "up" | "down" | "unknown";
  lastError: string;
}

/** Prometheus's active scrape targets by job. */
async function targets(prometheus: RunningPrometheus): Promise<Map<string, Target>> {
  const res = await fetch(`${prometheus.url}/api/v1/targets?state=active`);
  assert.equal(res.status, 200, "prometheus /api/v1/targets");
  const body = await res.json() as { data: { activeTargets: Target[] } };
  return new Map(body.data.activeTargets.map((t) => [t.labels.job, t]));
}

/** The value of a PromQL expression that yields one sample (or none: undefined). */
async function query(prometheus: RunningPrometheus, expr: string): Promise<number | undefined> {
  const res = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = await res.json() as {
    status: string;
    error?: string;
    data: { result: { value: [number, string] }[] };
  };
  assert.equal(body.status, "success", `query ${expr}: ${body.error}`);
  const result = body.data.result;
  assert.ok(result.length <= 1, `query ${expr} gave ${result.length} series; expected one`);
  return result.length === 0 ? undefined : Number(result[0].value[1]);
}

Deno.test({
  name: "a real Prometheus scrapes /metrics with the bearer key and reads back the known requests",
  ignore: SKIP,
  async fn() {
    if (PROMETHEUS === undefined) {
      throw new Error(
        "no `prometheus` on PATH in CI (CI=true); .ci/run installs it with " +
          "`apt-get install prometheus`: check that step's output",
      );
    }
    const fake = await startFake({ kind: "vllm", models: ["llama"], content: CONTENT });
    const router = await startRouter({
      config: `
server: { skip_auth: false, api_keys: ["${KEY}"] }
discovery: { enabled: false }
providers:
  box:
    api_base: ${fake.apiBase}
    models:
      - id: llama
        pricing: { input_micro_usd_per_token: ${PRICING.input_micro_usd_per_token}, output_micro_usd_per_token: ${PRICING.output_micro_usd_per_token} }
`,
    });
    let prometheus: RunningPrometheus | undefined;
    try {
      // The known sequence: 3 plain and 2 streamed chats served by box, 1 unknown model (404).
      const chat = async (model: string, stream: boolean) => {
        const res = await fetch(`${router.apiBase}/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
          body: JSON.stringify({ model, stream, messages: [{ role: "user", content: "hi" }] }),
        });
        return { status: res.status, text: await res.text() };
      };
      for (const stream of [false, false, false, true, true]) {
        const { status, text } = await chat("llama", stream);
        assert.equal(status, 200, text);
        assert.match(text, /there/);
      }
      assert.equal((await chat("nope", false)).status, 404);
      // Each request is counted when its log line is written; wait for the last served one.
      await until(
        () => (router.stderr().match(/-> box:llama /g) ?? []).length === 5,
        10_000,
        `five request log lines for box:llama on stderr:\n${router.stderr()}`,
      );

      const target = new URL(router.url).host;
      prometheus = await startPrometheus(
        PROMETHEUS,
        `
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: bitrouter
    static_configs:
      - targets: ["${target}"]
    authorization:
      credentials: ${KEY}
  - job_name: bitrouter_without_key
    static_configs:
      - targets: ["${target}"]
`,
      );
      const running = prometheus;

      // Both jobs scraped at least once: with the key up, without it down on BitRouter's 401.
      let seen = new Map<string, Target>();
      await until(
        async () => {
          await pause();
          seen = await targets(running);
          return seen.get("bitrouter")?.health === "up" &&
            seen.get("bitrouter_without_key")?.health === "down";
        },
        20_000,
        "both scrape jobs reporting (up with the key, down without)",
      ).catch((error) => {
        throw new Error(
          `${error.message}; targets: ${JSON.stringify([...seen.values()])}\n` +
            `prometheus output:\n${running.output()}`,
        );
      });
      assert.match(seen.get("bitrouter_without_key")!.lastError, /401/);
      assert.equal(await query(running, 'up{job="bitrouter"}'), 1);
      assert.equal(await query(running, 'up{job="bitrouter_without_key"}'), 0);

      // The values Prometheus stored from its scrape match what was sent.
      const box = 'job="bitrouter",provider="box"';
      assert.equal(
        await query(
          running,
          `sum(bitrouter_requests_total{${box},model="llama",status_class="2xx"})`,
        ),
        5,
      );
      assert.equal(
        await query(
          running,
          'sum(bitrouter_requests_total{job="bitrouter",protocol="chat_completions",' +
            'provider="none",status_class="4xx"})',
        ),
        1,
      );
      assert.equal(
        await query(running, `sum(bitrouter_tokens_total{${box},direction="input"})`),
        5 * INPUT_PER_REQUEST,
      );
      assert.equal(
        await query(running, `sum(bitrouter_tokens_total{${box},direction="output"})`),
        5 * OUTPUT_PER_REQUEST,
      );
      const cost = await query(running, `sum(bitrouter_cost_usd_total{${box}})`);
      const perRequest = (INPUT_PER_REQUEST * PRICING.input_micro_usd_per_token +
        OUTPUT_PER_REQUEST * PRICING.output_micro_usd_per_token) / 1e6;
      assert.ok(
        cost !== undefined && Math.abs(cost - 5 * perRequest) < 1e-12,
        `cost ${cost}, expected ${5 * perRequest}`,
      );
      // Histograms arrive as histograms: one duration observation per served request, and a
      // quantile PromQL can compute from the buckets.
      assert.equal(
        await query(running, `sum(bitrouter_request_duration_seconds_count{${box}})`),
        5,
      );
      const p50 = await query(
        running,
        `histogram_quantile(0.5, sum by (le) (bitrouter_time_to_first_byte_seconds_bucket{${box}}))`,
      );
      assert.ok(p50 !== undefined && p50 > 0 && p50 < 10, `p50 time to first byte ${p50}`);
      assert.equal(await query(running, `bitrouter_provider_up{${box}}`), 1);
    } finally {
      await prometheus?.stop();
      await router.stop();
      await fake.close();
    }
  },
});
