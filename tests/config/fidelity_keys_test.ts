import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/config/errors.ts";
import { initTemplate } from "../../src/config/template.ts";

const load = (text: string) => parseConfig(text, "/t.yaml", { env: () => undefined });

Deno.test("compatibility.chat_completions.system_messages is merge by default, and one of merge, user, keep", () => {
  const c = load(`
providers:
  a: { api_base: "http://h/v1" }
  b:
    api_base: http://h/v1
    compatibility: { chat_completions: { system_messages: user } }
`);
  assert.equal(c.providers[0].chatCompatibility?.systemMessages, "merge");
  assert.equal(c.providers[1].chatCompatibility?.systemMessages, "user");
  assert.throws(
    () =>
      load(
        "providers:\n  a:\n    api_base: http://h/v1\n    compatibility: { chat_completions: { system_messages: first } }\n",
      ),
    (e: unknown) =>
      e instanceof ConfigError &&
      /system_messages: expected one of "merge", "user", "keep"/.test(e.message),
  );
});

Deno.test("responses.store_ttl_secs defaults to an hour and must be a positive number of seconds", () => {
  assert.equal(load("").responses?.storeTtlSecs, 3600);
  assert.equal(load("responses: { store_ttl_secs: 60 }").responses?.storeTtlSecs, 60);
  assert.equal(load("responses: { store_ttl_secs: 60 }").warnings.length, 0);
  assert.throws(() => load("responses: { store_ttl_secs: 0 }"), ConfigError);
});

/** The template with the commented block starting at line `first` uncommented, as a user would. */
function uncommentBlock(text: string, first: string): string {
  const lines = text.split("\n");
  const start = lines.indexOf(first);
  assert.ok(start >= 0, `the template has no line ${JSON.stringify(first)}`);
  for (let i = start; i < lines.length && lines[i] !== ""; i++) {
    lines[i] = lines[i].replace(/^( *)# /, "$1");
  }
  return lines.join("\n");
}

Deno.test("the init template shows system_messages and store_ttl_secs, and loads with them uncommented", () => {
  const template = initTemplate();
  let text = uncommentBlock(uncommentBlock(template, "  # vllm:"), "# responses:");
  text = text.replace(/^ {4}# (compatibility: .*)$/m, "    $1")
    .replace("system_messages: merge } }", "system_messages: user } }")
    .replace("store_ttl_secs: 3600", "store_ttl_secs: 120");
  const c = load(text);
  assert.deepEqual(c.warnings, []);
  const vllm = c.providers.find((p) => p.id === "vllm");
  assert.ok(vllm, "the vLLM block did not uncomment into a provider");
  assert.equal(vllm.chatCompatibility?.systemMessages, "user");
  assert.equal(c.responses?.storeTtlSecs, 120);
  load(template);
});
