import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/config/errors.ts";
import { parseDiscoveryEnv, parseTarget } from "../../src/discovery/targets.ts";

Deno.test("a discovery target is host:port, :port or a URL, reduced to its origin", () => {
  assert.equal(parseTarget("127.0.0.1:11434"), "http://127.0.0.1:11434");
  assert.equal(parseTarget(":8080"), "http://127.0.0.1:8080");
  assert.equal(parseTarget("gpu-box:8000"), "http://gpu-box:8000");
  assert.equal(parseTarget("http://gpu-box:8000/v1"), "http://gpu-box:8000");
  assert.equal(parseTarget("[::1]:1234"), "http://[::1]:1234");
  assert.equal(parseTarget("gpu-box"), undefined, "a bare host must name its port");
  assert.equal(parseTarget("ftp://x:1"), undefined);
});

Deno.test("BITROUTER_DISCOVERY is off, or a list of targets", () => {
  assert.deepEqual(parseDiscoveryEnv("off"), { off: true });
  assert.deepEqual(parseDiscoveryEnv("127.0.0.1:9090, gpu:8000,127.0.0.1:9090"), {
    off: false,
    targets: ["http://127.0.0.1:9090", "http://gpu:8000"],
  });
  assert.equal(parseDiscoveryEnv("127.0.0.1:9090,nope"), "nope");
});

Deno.test("the discovery: block loads with defaults, and a bad target is an error with its line", () => {
  const none = parseConfig("providers: {}\n", "/t.yaml", { env: () => undefined });
  assert.deepEqual(none.discovery, { enabled: true, intervalSecs: 15, targets: undefined });
  const set = parseConfig(
    "discovery:\n  enabled: false\n  interval_secs: 5\n  targets: [127.0.0.1:9090]\n",
    "/t.yaml",
    { env: () => undefined },
  );
  assert.deepEqual(set.discovery, {
    enabled: false,
    intervalSecs: 5,
    targets: ["http://127.0.0.1:9090"],
  });
  assert.deepEqual(set.warnings, []);
  try {
    parseConfig("discovery:\n  targets: [localhost]\n", "/t.yaml", { env: () => undefined });
    assert.fail("a target without a port was accepted");
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /t\.yaml:2:\d+: discovery\.targets\.0: expected host:port/);
  }
});
