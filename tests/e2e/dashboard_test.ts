/**
 * The dashboard in a real browser (issue 17): runs tests/e2e/dashboard_browser.ts in its own
 * process, since its driver (playwright-core) reads /proc and the home folder, which the suite's
 * permissions do not allow. Fails — never skips — without Debian's chromium.
 */
import assert from "node:assert/strict";
import { chromiumPath } from "./chromium.ts";
import { REPO_ROOT } from "./helpers.ts";

Deno.test("the dashboard in chromium: key, servers, live requests, cooling, a stopped server, usage, 360 px, dark", async () => {
  chromiumPath(); // throws with how to install it
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("tests/e2e/dashboard_browser.ts", REPO_ROOT).pathname],
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  const stdout = text.decode(out.stdout);
  const stderr = text.decode(out.stderr);
  assert.equal(out.code, 0, `the browser test failed:\n${stdout}\n${stderr}`);
  assert.match(stdout, /ok: live dashboard/);
  assert.match(stdout, /ok: wrong key/);
});
