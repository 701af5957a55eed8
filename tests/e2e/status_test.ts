/**
 * `bitrouter status` against the real CLI (issue 17): what a running router shows, in text and
 * JSON, with the key from the config; the plain answer when none runs; and an open dashboard
 * event stream never holding `bitrouter serve`'s shutdown.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { refusedApiBase, startFake } from "../fakes/upstream.ts";
import { startRouter, within } from "./helpers.ts";
import { runCli } from "./cli.ts";

const KEY = "sk-bitrouter-status-test-key";

Deno.test("bitrouter status prints what the running router shows, in text and in JSON", async () => {
  const ollama = await startFake({ kind: "ollama" });
  const openai = await startFake({ kind: "openai" });
  const providers = `
health: { failures: 1, cooldown_secs: 60 }
providers:
  ollama: { api_base: "${ollama.apiBase}", models: [{ id: llama3.1, provider_model_id: "llama3.1:latest" }] }
  hosted: { api_base: "${openai.apiBase}", api_key: sk-upstream-secret-0000, local: false, models: [gpt-4o-mini] }
models:
  smart: { endpoints: [{ provider: ollama, service_id: llama3.1 }, { provider: hosted, service_id: gpt-4o-mini }] }
`;
  const dir = await Deno.makeTempDir();
  const router = await startRouter({
    config:
      `server: { skip_auth: false, api_keys: [${KEY}] }\ndatabase: { url: "sqlite://${dir}/usage.db" }\n${providers}`,
  });
  try {
    const client = new OpenAI({ baseURL: router.apiBase, apiKey: KEY, maxRetries: 0 });
    await client.chat.completions.create({
      model: "llama3.1",
      messages: [{ role: "user", content: "hi" }],
    });
    ollama.fault = { type: "status", status: 503 };
    const { response } = await client.chat.completions.create({
      model: "smart",
      messages: [{ role: "user", content: "hi" }],
    }).withResponse();
    assert.equal(response.headers.get("x-bitrouter-provider"), "hosted");

    const port = new URL(router.url).port;
    await Deno.writeTextFile(
      `${dir}/bitrouter.yaml`,
      `server: { listen: "127.0.0.1:${port}", skip_auth: false, api_keys: [${KEY}] }\n${providers}`,
    );
    const text = await runCli(["status"], { cwd: dir });
    assert.equal(text.code, 0, text.stderr);
    const out = text.stdout;
    assert.match(out, new RegExp(`^bitrouter \\S+ at http://127\\.0\\.0\\.1:${port} — config `));
    assert.match(out, /Providers \(2 of 2 up; 0 queued\)/);
    assert.match(
      out,
      /\n\s+ollama\s+local\s+http:\/\/127\.0\.0\.1:\d+\/v1\s+up since \d\d:\d\d:\d\d UTC/,
    );
    assert.match(
      out,
      /Endpoints cooling down\n\s+ollama llama3\.1:latest: cooling \d+s after 1 failures: 503/,
    );
    assert.match(out, /smart: 1\. hosted gpt-4o-mini {2}2\. ollama llama3\.1:latest \(cooling\)/);
    assert.match(out, /Last requests \(2, newest first\)/);
    assert.match(out, /chat_completions\s+smart\s+hosted:gpt-4o-mini\s+200\s+2\s/);
    assert.match(out, /chat_completions\s+llama3\.1\s+ollama:llama3\.1:latest\s+200\s+1\s/);
    assert.match(out, /today: {7}\d+ local tokens, \d+ hosted tokens/);
    assert.ok(!out.includes("sk-upstream-secret-0000") && !out.includes(KEY), "a key was printed");

    const json = await runCli(["status", "--json", "-c", `${dir}/bitrouter.yaml`], {
      cwd: "/",
    });
    assert.equal(json.code, 0, json.stderr);
    const status = JSON.parse(json.stdout);
    assert.equal(status.object, "bitrouter.status");
    assert.equal(status.url, `http://127.0.0.1:${port}`);
    assert.deepEqual(
      status.providers.map((p: { id: string; state: string }) => `${p.id}:${p.state}`),
      ["ollama:up", "hosted:up"],
    );
    assert.equal(status.recent.length, 2);
    assert.equal(status.recent[0].model, "smart");
    assert.ok(status.usage.today.local_tokens > 0, JSON.stringify(status.usage.today));
    assert.ok(status.usage.today.hosted_tokens > 0);

    // A wrong key from the environment: said plainly.
    const wrong = await runCli(["status", "--url", router.url], {
      cwd: dir,
      env: { BITROUTER_API_KEY: "not-the-key" },
    });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /wants a key and refused the one sent/);
    const viaEnv = await runCli(["status", "--url", router.url, "--json"], {
      env: { BITROUTER_API_KEY: KEY },
    });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
  } finally {
    await router.stop();
    await Promise.all([ollama.close(), openai.close()]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bitrouter status says plainly when no router is running", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const refused = new URL(await refusedApiBase()).origin;
    const viaUrl = await runCli(["status", "--url", refused], { cwd: dir });
    assert.equal(viaUrl.code, 1);
    assert.equal(
      viaUrl.stderr.trim(),
      `error: no bitrouter is running at ${refused} (start one with \`bitrouter start\` or \`bitrouter serve\`, or pass --url)`,
    );
    assert.equal(viaUrl.stdout, "");
    await Deno.writeTextFile(
      `${dir}/bitrouter.yaml`,
      `server: { listen: "${new URL(refused).host}" }\n`,
    );
    const viaConfig = await runCli(["status", "--json"], { cwd: dir });
    assert.equal(viaConfig.code, 1);
    assert.match(viaConfig.stderr, new RegExp(`no bitrouter is running at ${refused} `));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bitrouter status --help and misuse", async () => {
  const help = await runCli(["status", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: bitrouter status/);
  const misuse = await runCli(["status", "--url", "ftp://x"]);
  assert.equal(misuse.code, 2);
  assert.match(misuse.stderr, /--url expects an http\(s\) URL[\s\S]*Usage: bitrouter status/);
  const extra = await runCli(["status", "now"]);
  assert.equal(extra.code, 2);
  assert.equal(extra.stdout, "");
});

Deno.test("bitrouter serve with a dashboard open still stops promptly on SIGTERM", async () => {
  const router = await startRouter({
    config: "server: { shutdown_grace_secs: 30 }\nusage: false\nproviders: {}\n",
  });
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let stopped = false;
  try {
    const page = await fetch(`${router.url}/`);
    assert.equal(page.status, 200);
    await page.body?.cancel();
    const events = await fetch(`${router.url}/v1/bitrouter/events`);
    assert.equal(events.status, 200);
    reader = events.body!.getReader();
    await reader.read();
    const started = performance.now();
    const stopping = router.stop(20_000);
    // The stream ends at once (not after the 30 s grace).
    for (;;) {
      const { done } = await within(reader.read(), 5_000, "the event stream's end");
      if (done) break;
    }
    const status = await stopping;
    stopped = true;
    assert.equal(status.code, 0, router.stderr());
    assert.ok(performance.now() - started < 5_000, `took ${performance.now() - started} ms`);
    assert.doesNotMatch(router.stderr(), /grace period .* is over/);
  } finally {
    await reader?.cancel().catch(() => {});
    if (!stopped) await router.stop();
  }
});
