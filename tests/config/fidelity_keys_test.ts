import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/config/errors.ts";

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
