/**
 * The dashboard in a real browser (issue 17), run by dashboard_test.ts as its own process, since
 * its driver (playwright-core) reads /proc and the home folder, beyond the suite's permissions.
 * Debian's chromium against the real CLI with fake model servers: the page asks for the key (auth
 * on), then shows the servers and models, each request as it finishes, a cooling endpoint and
 * why, a server that stopped, and the tokens in the usage chart; it loads nothing from another
 * host and logs no error; it fits 360 px and has a dark scheme. With BITROUTER_SCREENSHOT=1 it
 * writes docs/dashboard.png for the README, else a screenshot to a temporary folder.
 */
import assert from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";
import { startFake } from "../fakes/upstream.ts";
import { REPO_ROOT, startRouter, until } from "./helpers.ts";
import { chromiumPath } from "./chromium.ts";

const KEY = "sk-dashboard-e2e-key-0001";

/** Headless chromium. */
async function launch(): Promise<Browser> {
  return await chromium.launch({
    executablePath: chromiumPath(),
    // Root in CI and containers: chromium's sandbox needs user namespaces it may not have.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}

/** Everything the page asks for that is not the router's own, and every console error. */
function watch(page: Page, origin: string) {
  const foreign: string[] = [];
  const errors: string[] = [];
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith("data:")) foreign.push(url);
  });
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  return { foreign, errors };
}

/** The dashboard shows servers, requests as they finish, cooling, a stopped server and usage. */
async function liveDashboard(): Promise<void> {
  const ollama = await startFake({
    kind: "ollama",
    models: ["llama3.1:latest", "qwen2.5:7b"],
    loaded: ["llama3.1:latest"],
  });
  const openai = await startFake({ kind: "openai" });
  const vllm = await startFake({ kind: "vllm" });
  const dir = await Deno.makeTempDir();
  const router = await startRouter({
    config: `
server: { skip_auth: false, api_keys: [${KEY}] }
database: { url: "sqlite://${dir}/usage.db" }
health: { failures: 1, cooldown_secs: 120 }
discovery: { interval_secs: 1, targets: ["${new URL(vllm.url).host}"] }
providers:
  ollama: { api_base: "${ollama.apiBase}", auto_discover: true, max_concurrent: 4, models: [{ id: llama3.1, provider_model_id: "llama3.1:latest" }] }
  openai: { api_base: "${openai.apiBase}", api_key: sk-upstream-secret-4242, local: false, models: [gpt-4o-mini] }
models:
  smart: { endpoints: [{ provider: ollama, service_id: llama3.1 }, { provider: openai, service_id: gpt-4o-mini }] }
`,
  });
  const browser = await launch();
  let vllmOpen = true;
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await context.newPage();
    const seen = watch(page, router.url);
    await page.goto(`${router.url}/`);

    // Auth is on: the page asks for the key before anything else, keyboard first.
    await page.locator("#auth").waitFor({ state: "visible", timeout: 5_000 });
    assert.equal(await page.locator("#key").getAttribute("type"), "password");
    assert.equal(await page.evaluate("document.activeElement?.id"), "key");
    await page.keyboard.type(KEY);
    await page.keyboard.press("Enter");
    await page.locator("#live.ok").waitFor({ timeout: 5_000 });
    assert.equal(await page.locator("#auth").isHidden(), true);
    assert.equal(await page.locator("#key").inputValue(), "", "the key stays in no field");

    // The servers, the detected one too, and the virtual model's order.
    for (const id of ["ollama", "openai", "vllm"]) {
      await page.locator(`[data-provider="${id}"][data-state="up"]`).first().waitFor({
        timeout: 5_000,
      });
    }
    const ollamaCard = page.locator('article[data-provider="ollama"]');
    assert.match(await ollamaCard.innerText(), /llama3\.1:latest \(loaded\)/);
    assert.match(await ollamaCard.innerText(), /qwen2\.5:7b/);
    assert.match(await ollamaCard.innerText(), /0 \/ 4 in flight/);
    assert.match(
      await page.locator('[data-model="smart"]').innerText(),
      /\nollama: llama3\.1:latest\nopenai: gpt-4o-mini$/,
    );

    // A request through BitRouter is in the list within a second.
    const ask = async (model: string) => {
      const res = await fetch(`${router.apiBase}/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
      });
      await res.text();
      return res;
    };
    const first = await ask("llama3.1");
    assert.equal(first.status, 200);
    const id = first.headers.get("x-request-id")!;
    const row = page.locator(`#requests tr[data-id="${id}"]`);
    await row.waitFor({ timeout: 1_000 });
    assert.match(await row.innerText(), /llama3\.1[\s\S]*ollama: llama3\.1:latest[\s\S]*200/);

    // A failing endpoint cools, and the page says why.
    ollama.fault = { type: "status", status: 503, body: "model is loading" };
    const failed = await ask("smart");
    assert.equal(failed.headers.get("x-bitrouter-provider"), "openai");
    const cooling = ollamaCard.locator(".endpoint.cooling");
    await cooling.waitFor({ timeout: 5_000 });
    assert.match(await cooling.innerText(), /cooling \d+s after 1 failure: 503 model is loading/);
    assert.match(
      await page.locator('[data-model="smart"]').innerText(),
      /\nopenai: gpt-4o-mini\nollama: llama3\.1:latest — cooling \d+s: 503/,
    );
    await page.locator(`#requests tr[data-id="${failed.headers.get("x-request-id")}"]`).waitFor({
      timeout: 1_000,
    });

    // The usage chart has the tokens just made (local and hosted).
    await until(
      async () => Number(await page.locator("#chart-hourly").getAttribute("data-total-tokens")) > 0,
      10_000,
      "tokens in the hourly chart",
    );
    assert.match(await page.locator("#usage-summary").innerText(), /Today: \d+ local tokens/);
    assert.ok(await page.locator("#chart-hourly rect.local").count() >= 1);
    assert.ok(await page.locator("#chart-hourly rect.hosted").count() >= 1);

    // A server that stops is down by the next probe.
    await vllm.close();
    vllmOpen = false;
    await page.locator('article[data-provider="vllm"][data-state="down"]').waitFor({
      timeout: 10_000,
    });
    assert.match(
      await page.locator('article[data-provider="vllm"]').innerText(),
      /down since .*UTC/,
    );

    await screenshot(page);

    // The key is kept for the tab only: a reload does not ask again; another tab does.
    await page.reload();
    await page.locator("#live.ok").waitFor({ timeout: 5_000 });
    assert.equal(await page.locator("#auth").isHidden(), true);
    const other = await context.newPage();
    await other.goto(`${router.url}/`);
    await other.locator("#auth").waitFor({ state: "visible", timeout: 5_000 });
    await other.close();

    // 360 px wide: nothing runs off the side (tables scroll inside their box).
    await page.setViewportSize({ width: 360, height: 800 });
    const overflow = await page.evaluate(
      "document.documentElement.scrollWidth - document.documentElement.clientWidth",
    );
    assert.equal(overflow, 0, "the page is wider than 360 px");
    // Dark scheme.
    const light = await page.evaluate("getComputedStyle(document.body).backgroundColor");
    await page.emulateMedia({ colorScheme: "dark" });
    const dark = await page.evaluate("getComputedStyle(document.body).backgroundColor");
    assert.notEqual(light, dark);

    assert.deepEqual(seen.foreign, [], "the page asked another host");
    assert.deepEqual(seen.errors, [], "console errors");
    const html = await page.content();
    assert.ok(!html.includes(KEY), "the key is in the page");
    assert.ok(!html.includes("sk-upstream-secret-4242"), "a provider key is in the page");
    await context.close();
  } finally {
    await browser.close();
    await router.stop();
    await Promise.all([ollama.close(), openai.close(), vllmOpen ? vllm.close() : undefined]);
    await Deno.remove(dir, { recursive: true });
  }
}

/** A wrong key is refused and asked for again, without showing it. */
async function wrongKey(): Promise<void> {
  const router = await startRouter({
    config: `server: { skip_auth: false, api_keys: [${KEY}] }\nusage: false\nproviders: {}\n`,
  });
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(`${router.url}/`);
    await page.locator("#key").fill("sk-wrong-key-typed-by-hand");
    await page.locator("#key").press("Enter");
    await page.locator("#auth-why", { hasText: "refused" }).waitFor({ timeout: 5_000 });
    assert.ok(!(await page.content()).includes("sk-wrong-key-typed-by-hand"));
    assert.equal(await page.evaluate("sessionStorage.length"), 0);
    await page.locator("#key").fill(KEY);
    await page.getByRole("button", { name: "Connect" }).click();
    await page.locator("#live.ok").waitFor({ timeout: 5_000 });
  } finally {
    await browser.close();
    await router.stop();
  }
}

/** The README's screenshot (BITROUTER_SCREENSHOT=1), else one in a temporary folder. */
async function screenshot(page: Page): Promise<void> {
  const path = Deno.env.get("BITROUTER_SCREENSHOT") === "1"
    ? new URL("docs/dashboard.png", REPO_ROOT).pathname
    : `${await Deno.makeTempDir({ prefix: "bitrouter-dashboard-" })}/dashboard.png`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await page.screenshot({ path, fullPage: true });
  const size = (await Deno.stat(path)).size;
  assert.ok(size > 10_000, `the screenshot at ${path} is ${size} bytes`);
  if (Deno.env.get("BITROUTER_SCREENSHOT") !== "1") {
    await Deno.remove(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  }
}

if (import.meta.main) {
  for (
    const [name, scenario] of [["live dashboard", liveDashboard], ["wrong key", wrongKey]] as const
  ) {
    const started = performance.now();
    await scenario();
    console.log(`ok: ${name} (${Math.round(performance.now() - started)} ms)`);
  }
}
