import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/config/errors.ts";
import { initTemplate } from "../../src/config/template.ts";

const env = (vars: Record<string, string> = {}) => (name: string) => vars[name];
const load = (text: string, vars: Record<string, string> = {}, lenientEnv = false) =>
  parseConfig(text, "/etc/bitrouter.yaml", { env: env(vars), lenientEnv });
const problems = (text: string, vars: Record<string, string> = {}) => {
  try {
    load(text, vars);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.diagnostics;
  }
  assert.fail("expected the config to be rejected");
};

Deno.test("an empty file is a valid config with loopback defaults", () => {
  const c = load("");
  assert.equal(c.server.hostname, "127.0.0.1");
  assert.equal(c.server.port, 4356);
  assert.equal(c.server.skipAuth, true);
  assert.deepEqual(c.providers, []);
});

Deno.test("server.body_timeout_secs defaults to 30 and must be a positive number of seconds", () => {
  assert.equal(load("").server.bodyTimeoutSecs, 30);
  assert.equal(load("server: { body_timeout_secs: 2.5 }").server.bodyTimeoutSecs, 2.5);
  assert.throws(
    () => load("server:\n  body_timeout_secs: 0\n"),
    /:2:\d+: server\.body_timeout_secs: expected a positive number of seconds/,
  );
  const uncommented = initTemplate().replace("# body_timeout_secs: 30", "body_timeout_secs: 30");
  assert.notEqual(uncommented, initTemplate(), "the template does not mention body_timeout_secs");
  assert.equal(load(uncommented).server.bodyTimeoutSecs, 30);
});

Deno.test("the init template loads and validates as written", () => {
  const c = load(initTemplate());
  assert.deepEqual(c.warnings, []);
  assert.equal(c.server.skipAuth, true);
  const detected = load(
    initTemplate([{ id: "ollama", apiBase: "http://127.0.0.1:11434/v1", models: ["llama3.1:8b"] }]),
  );
  assert.deepEqual(detected.providers.map((p) => [p.id, p.models[0].upstreamId]), [[
    "ollama",
    "llama3.1:8b",
  ]]);
});

Deno.test("a wrong type names file, line, column, key path and what was expected", () => {
  const [d] = problems(
    "providers:\n  ollama:\n    api_base: http://localhost:11434/v1\n    priority: high\n",
  );
  assert.equal(d.path, "providers.ollama.priority");
  assert.deepEqual(d.location, { file: "/etc/bitrouter.yaml", line: 4, column: 15 });
  assert.match(d.message, /expected number, got string "high"/);
});

Deno.test("an api_base that is not a URL is an error quoting the value", () => {
  const [d] = problems("providers:\n  ollama:\n    api_base: localhost\n");
  assert.equal(d.path, "providers.ollama.api_base");
  assert.match(d.message, /expected an http\(s\) URL, got "localhost"/);
  assert.equal(d.location?.line, 3);
});

Deno.test("invalid YAML is reported with its position", () => {
  const [d] = problems("server:\n  listen: [127.0.0.1\n");
  assert.match(d.message, /invalid YAML/);
  assert.ok(d.location && d.location.line >= 2);
});

Deno.test("unknown keys are warnings with a did-you-mean hint, and the config still loads", () => {
  const c = load(
    "server:\n  lisen: 127.0.0.1:9000\nproviders:\n  ollama:\n    api_base: http://h/v1\n    prioirty: 2\nextra_block: {}\n",
  );
  const msgs = c.warnings.map((w) => `${w.path} ${w.message} ${w.location?.line}`);
  assert.deepEqual(msgs, [
    'server.lisen unknown key, ignored (did you mean "listen"?) 2',
    'providers.ollama.prioirty unknown key, ignored (did you mean "priority"?) 6',
    "extra_block unknown key, ignored 7",
  ]);
});

Deno.test("an endpoint naming an undeclared provider is an error with a hint", () => {
  const ds = problems(
    "providers:\n  ollama:\n    api_base: http://h/v1\nmodels:\n  smart:\n    endpoints:\n      - provider: olama\n        service_id: x\n",
  );
  assert.equal(ds[0].path, "models.smart.endpoints.0.provider");
  assert.match(ds[0].message, /"olama" is not declared.*did you mean "ollama"/);
  assert.equal(ds[0].location?.line, 7);
});

Deno.test("a provider without api_base that is not built in is an error listing the built-ins", () => {
  const [d] = problems("providers:\n  myserver: {}\n");
  assert.equal(d.path, "providers.myserver");
  assert.match(d.message, /api_base is required.*openai/);
});

Deno.test("${VAR} and ${VAR:-default} are substituted; an unquoted number stays a number", () => {
  const c = load(
    "server:\n  listen: ${HOST:-127.0.0.1}:${PORT}\nupstream:\n  timeouts:\n    first_byte_secs: ${FB:-7}\nproviders:\n  x:\n    api_base: http://${XHOST}/v1\n",
    { PORT: "9999", XHOST: "gpu-box:8000" },
  );
  assert.equal(c.server.port, 9999);
  assert.equal(c.providers[0].apiBase, "http://gpu-box:8000/v1");
  assert.equal(c.providers[0].timeouts.firstByteSecs, 7);
});

Deno.test("a quoted number from a variable is accepted where a number is expected", () => {
  const c = load('upstream:\n  timeouts: { idle_secs: "${IDLE:-9}" }\n');
  assert.equal(c.server.port, 4356);
  const p = load(
    'upstream:\n  timeouts: { idle_secs: "${IDLE:-9}" }\nproviders:\n  a: { api_base: "http://a/v1" }\n',
  );
  assert.equal(p.providers[0].timeouts.idleSecs, 9);
});

Deno.test("an unset ${VAR} outside api_key is an error naming the variable and line", () => {
  const [d] = problems(
    "providers:\n  x:\n    api_base: http://h/v1\n    headers:\n      X-Title: ${APP_TITLE}\n",
  );
  assert.match(d.message, /APP_TITLE is unset/);
  assert.equal(d.location?.line, 5);
  assert.equal(d.path, "providers.x.headers.X-Title");
});

Deno.test("config validate mode turns an unset ${VAR} into a warning", () => {
  const c = load(
    'providers:\n  x:\n    api_base: http://h/v1\n    headers: { X-Title: "${APP_TITLE}" }\n',
    {},
    true,
  );
  assert.equal(c.warnings.length, 1);
  assert.match(c.warnings[0].message, /APP_TITLE/);
});

Deno.test("${VAR} inside a comment is ignored", () => {
  const c = load("# uses ${NOT_SET}\nserver:\n  listen: 127.0.0.1:4356 # ${ALSO_NOT}\n");
  assert.equal(c.server.port, 4356);
});

Deno.test("an unset api_key variable makes only that provider inactive, with the reason", () => {
  const c = load(
    "providers:\n  ollama:\n    api_base: http://localhost:11434/v1\n  openai:\n    api_key: ${OPENAI_API_KEY}\n",
  );
  const [ollama, openai] = c.providers;
  assert.equal(ollama.inactiveReason, undefined);
  assert.equal(openai.inactiveReason, "OPENAI_API_KEY unset");
  assert.equal(openai.apiBase, "https://api.openai.com/v1");
});

Deno.test("a built-in provider declared as {} takes api_base, protocol and key from the catalog", () => {
  const c = load("providers:\n  openai: {}\n  anthropic:\n  groq: {}\n", {
    OPENAI_API_KEY: "sk-1",
    ANTHROPIC_API_KEY: "ak",
  });
  const [openai, anthropic, groq] = c.providers;
  assert.equal(openai.apiKey, "sk-1");
  assert.equal(openai.defaultProtocol, "chat_completions");
  assert.ok(openai.models.some((m) => m.id === "gpt-4o-mini"));
  assert.equal(anthropic.defaultProtocol, "messages");
  assert.equal(anthropic.apiBase, "https://api.anthropic.com/v1");
  assert.equal(groq.inactiveReason, "GROQ_API_KEY unset");
});

Deno.test("api_protocol accepts synonyms, a single name and patterns; inference follows api_base", () => {
  const c = load(
    'providers:\n  a:\n    api_base: http://h/v1\n    api_protocol:\n      - "*": openai\n      - "claude-*": anthropic\n  b:\n    api_base: https://api.anthropic.com/v1\n  c:\n    api_base: http://h/v1\n    api_protocol: responses\n',
  );
  const [a, b, cc] = c.providers;
  assert.deepEqual(a.protocolRules.map((r) => r.protocol), ["messages", "chat_completions"]);
  assert.equal(b.defaultProtocol, "messages");
  assert.equal(cc.protocolRules[0].protocol, "responses");
});

Deno.test("an unknown api_protocol is an error listing the accepted names", () => {
  const [d] = problems("providers:\n  a:\n    api_base: http://h/v1\n    api_protocol: grpc\n");
  assert.equal(d.path, "providers.a.api_protocol");
});

Deno.test("skip_auth: false without keys is an error that says how to fix it", () => {
  const [d] = problems("server:\n  skip_auth: false\n");
  assert.match(d.message, /api_keys is empty/);
  const c = load("server:\n  skip_auth: false\n  api_keys: [${BR_KEY}]\n", { BR_KEY: "k1" });
  assert.deepEqual(c.server.apiKeys, ["k1"]);
});

Deno.test("a listen value that is not host:port is rejected", () => {
  const [d] = problems("server:\n  listen: localhost\n");
  assert.equal(d.path, "server.listen");
  assert.match(d.message, /expected host:port/);
});

Deno.test("per-provider timeouts override upstream.timeouts, which override the defaults", () => {
  const c = load(
    "upstream:\n  timeouts: { first_byte_secs: 60, total_secs: 600 }\nproviders:\n  a:\n    api_base: http://h/v1\n    timeouts: { first_byte_secs: 600 }\n  b:\n    api_base: http://h/v1\n",
  );
  assert.deepEqual(c.providers[0].timeouts, {
    connectSecs: 10,
    firstByteSecs: 600,
    idleSecs: 120,
    totalSecs: 600,
    queueSecs: 30,
  });
  assert.equal(c.providers[1].timeouts.firstByteSecs, 60);
});

Deno.test("models accept plain ids and {id, provider_model_id}; endpoints accept model: for service_id", () => {
  const c = load(
    "providers:\n  ollama:\n    api_base: http://h/v1\n    models:\n      - qwen2.5\n      - id: llama3.1\n        provider_model_id: llama3.1:8b\nmodels:\n  smart:\n    strategy: cascade\n    endpoints:\n      - provider: ollama\n        model: llama3.1\n",
  );
  assert.deepEqual(c.providers[0].models, [
    { id: "qwen2.5", upstreamId: "qwen2.5" },
    { id: "llama3.1", upstreamId: "llama3.1:8b" },
  ]);
  assert.deepEqual(c.virtualModels, [{
    name: "smart",
    strategy: "cascade",
    endpoints: [{ provider: "ollama", model: "llama3.1" }],
  }]);
});

Deno.test("a built-in pointed at another api_base keeps its protocol unless the base names one", () => {
  const config = load(`
providers:
  anthropic: { api_base: "http://gateway.internal/anthropic/v1", api_key: k }
  openai: { api_base: "https://api.anthropic.com/v1", api_key: k }
  local: { api_base: "http://127.0.0.1:8080/v1" }
`);
  const protocol = (id: string) => config.providers.find((p) => p.id === id)?.defaultProtocol;
  assert.equal(protocol("anthropic"), "messages");
  assert.equal(protocol("openai"), "messages");
  assert.equal(protocol("local"), "chat_completions");
});

Deno.test("a key that looks like a number or a boolean is its text as written", () => {
  const c = load(`
server:
  skip_auth: false
  api_keys: [5550001112223334, 0123, 12345678901234567890123, 1e5, true]
providers:
  a: { api_base: "http://a.test/v1", api_key: 5550001112223334 }
  b: { api_base: "http://b.test/v1", api_key: 00420 }
  c: { api_base: "http://c.test/v1", api_key: 0x1F }
  d: { api_base: "http://d.test/v1", api_key: false }
`);
  assert.deepEqual(c.server.apiKeys, [
    "5550001112223334",
    "0123",
    "12345678901234567890123",
    "1e5",
    "true",
  ]);
  assert.deepEqual(c.providers.map((p) => p.apiKey), [
    "5550001112223334",
    "00420",
    "0x1F",
    "false",
  ]);
});

Deno.test("a ${VAR} key whose value is digits stays the text of the variable", () => {
  const c = load(
    `
server:
  skip_auth: false
  api_keys: [\${BR_KEY}]
providers:
  a:
    api_base: http://a.test/v1
    api_key: \${A_KEY}
  b:
    api_base: http://b.test/v1
    priority: \${PRIO}
`,
    { BR_KEY: "0042", A_KEY: "98765432109876543210", PRIO: "3" },
  );
  assert.deepEqual(c.server.apiKeys, ["0042"]);
  assert.equal(c.providers[0].apiKey, "98765432109876543210");
  assert.equal(c.providers[1].priority, 3, "other unquoted variables still become numbers");
});

Deno.test("a validation error at a key's path never shows the key", () => {
  const secret = "5550001112223334";
  const ds = problems(`
server:
  api_keys: ${secret}
providers:
  a: { api_base: "http://a.test/v1", api_key: [${secret}] }
  b: { api_base: "http://b.test/v1", headers: { api-key: ${secret} } }
  openai: sk-${secret}
`);
  assert.deepEqual(ds.map((d) => d.path), [
    "server.api_keys",
    "providers.a.api_key",
    "providers.b.headers.api-key",
    "providers.openai",
  ]);
  assert.match(ds[0].message, /expected array, got a number \(not shown: it may be a key\)/);
  assert.match(ds[1].message, /expected string, got a list/);
  for (const d of ds) assert.ok(!d.message.includes(secret), d.message);
  // Elsewhere the value is still quoted, to say what was wrong.
  assert.match(problems("server:\n  log_level: 5550001112223334\n")[0].message, /5550001112223334/);
});

Deno.test("a key written like a YAML alias is an error at its line, without the key", () => {
  const [d] = problems(
    "providers:\n  a:\n    api_base: http://a.test/v1\n    api_key: *sk-abc123\n",
  );
  assert.match(d.message, /alias of an anchor that is not defined; quote the value/);
  assert.equal(d.location?.line, 4);
  assert.ok(!d.message.includes("sk-abc123"), d.message);
});

Deno.test("a key or header value fetch could not send is refused at load, without showing it", () => {
  const ds = problems(
    `providers:
  a: { api_base: "http://a.test/v1", api_key: "sk-inner\\nbreak" }
  b: { api_base: "http://b.test/v1", api_key: "\${B_KEY}" }
  c: { api_base: "http://c.test/v1", headers: { api-key: "sk-ünï\u{1F999}code" } }
`,
    { B_KEY: "sk-from-env\u0000x" },
  );
  assert.deepEqual(ds.map((d) => d.path), [
    "providers.a.api_key",
    "providers.b.api_key",
    "providers.c.headers.api-key",
  ]);
  for (const d of ds) {
    assert.match(d.message, /expected a (key|value) that can be sent in an HTTP header/);
    assert.ok(!/sk-/.test(d.message), d.message);
  }
  // Surrounding whitespace (a trailing newline from a file) is trimmed by fetch: accepted.
  load(`providers:\n  a: { api_base: "http://a.test/v1", api_key: "\${A_KEY}" }\n`, {
    A_KEY: "sk-ok\n",
  });
});

Deno.test("a built-in's key variable that fetch could not send leaves it inactive, unsent", () => {
  const c = load("providers:\n  openai: {}\n", { OPENAI_API_KEY: "sk-abc\ndef" });
  assert.equal(c.providers[0].apiKey, undefined);
  assert.match(c.providers[0].inactiveReason!, /^OPENAI_API_KEY holds a line break/);
  assert.ok(!c.providers[0].inactiveReason!.includes("sk-abc"));
});
