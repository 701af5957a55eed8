import assert from "node:assert/strict";
import { createGuard, hostnameOf } from "../../src/proxy/guard.ts";
import { DEFAULT_SERVER, type ServerSettings } from "../../src/config/types.ts";
import { parseConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/config/errors.ts";

const server = (over: Partial<ServerSettings> = {}): ServerSettings => ({
  ...DEFAULT_SERVER,
  ...over,
});
const req = (headers: Record<string, string>, method = "GET") =>
  new Request("http://127.0.0.1:4356/v1/models", { method, headers });

Deno.test("a loopback listener serves loopback names and addresses, the listen host and allowed_hosts only", () => {
  const guard = createGuard(server({ allowedHosts: ["bitrouter.lan", "*.home.arpa"] }));
  for (
    const host of [
      "127.0.0.1:4356",
      "127.3.2.1",
      "localhost:4356",
      "LOCALHOST.",
      "ollama.localhost:4356",
      "[::1]:4356",
      "bitrouter.lan:4356",
      "gpu.home.arpa",
    ]
  ) assert.equal(guard(req({ host })).kind, "serve", host);
  for (
    const host of [
      "evil.example",
      "evil.example:4356",
      "0.0.0.0:4356",
      "localhost.evil.example",
      "home.arpa",
      "[::2]:4356",
    ]
  ) {
    const v = guard(req({ host }));
    assert.equal(v.kind, "refuse", host);
    assert.equal(v.kind === "refuse" && v.code, "forbidden_host");
  }
});

Deno.test("a non-loopback listener checks Host only when allowed_hosts is set", () => {
  assert.equal(
    createGuard(server({ hostname: "0.0.0.0" }))(req({ host: "gpu-box:4356" })).kind,
    "serve",
  );
  const strict = createGuard(server({ hostname: "0.0.0.0", allowedHosts: ["gpu-box"] }));
  assert.equal(strict(req({ host: "gpu-box:4356" })).kind, "serve");
  assert.equal(strict(req({ host: "evil.example" })).kind, "refuse");
  assert.equal(
    createGuard(server({ allowedHosts: ["*"] }))(req({ host: "evil.example" })).kind,
    "serve",
  );
});

Deno.test("an Origin must be listed in cors_origins; BitRouter's own address is no stranger", () => {
  const none = createGuard(server());
  for (const origin of ["https://evil.example", "null", "", "http://localhost:3000"]) {
    const v = none(req({ host: "127.0.0.1:4356", origin }));
    assert.equal(v.kind === "refuse" && v.code, "forbidden_origin", origin);
  }
  assert.equal(
    none(req({ host: "127.0.0.1:4356", origin: "http://127.0.0.1:4356" })).kind,
    "serve",
  );
  const some = createGuard(server({ corsOrigins: ["http://localhost:3000", "app://obsidian.md"] }));
  const v = some(req({ host: "127.0.0.1:4356", origin: "http://localhost:3000" }));
  assert.equal(v.kind, "serve");
  assert.equal(
    v.kind === "serve" && v.cors?.["access-control-allow-origin"],
    "http://localhost:3000",
  );
  assert.equal(some(req({ host: "127.0.0.1:4356", origin: "app://obsidian.md" })).kind, "serve");
  assert.equal(
    some(req({ host: "127.0.0.1:4356", origin: "http://localhost:3001" })).kind,
    "refuse",
  );
  const any = createGuard(server({ corsOrigins: ["*"] }));
  assert.equal(any(req({ host: "127.0.0.1:4356", origin: "https://x.example" })).kind, "serve");
});

Deno.test("a preflight from a listed origin is answered with methods, the asked headers and Private Network Access", () => {
  const guard = createGuard(server({ corsOrigins: ["https://chat.example"] }));
  const v = guard(req({
    host: "localhost:4356",
    origin: "https://chat.example",
    "access-control-request-method": "POST",
    "access-control-request-headers": "Authorization, X-Stainless-OS, anthropic-version",
    "access-control-request-private-network": "true",
  }, "OPTIONS"));
  assert.equal(v.kind, "preflight");
  if (v.kind !== "preflight") return;
  assert.equal(
    v.headers["access-control-allow-headers"],
    "authorization, x-stainless-os, anthropic-version",
  );
  assert.match(v.headers["access-control-allow-methods"], /POST/);
  assert.equal(v.headers["access-control-allow-private-network"], "true");
  const bare = guard(
    req({
      host: "localhost:4356",
      origin: "https://chat.example",
      "access-control-request-method": "POST",
    }, "OPTIONS"),
  );
  assert.match(
    bare.kind === "preflight" ? bare.headers["access-control-allow-headers"] : "",
    /x-stainless-retry-count/,
  );
});

Deno.test("hostnameOf drops port, brackets and a trailing dot", () => {
  assert.equal(hostnameOf("LocalHost.:80"), "localhost");
  assert.equal(hostnameOf("[::1]:4356"), "::1");
  assert.equal(hostnameOf("127.0.0.1"), "127.0.0.1");
});

Deno.test("allowed_hosts and cors_origins are validated with what was expected", () => {
  const load = (server: string) =>
    parseConfig(`server: ${server}\n`, "/t.yaml", { env: () => undefined });
  assert.deepEqual(load('{ cors_origins: ["HTTP://LocalHost:3000/"] }').server.corsOrigins, [
    "http://localhost:3000",
  ]);
  assert.deepEqual(load('{ allowed_hosts: ["BitRouter.LAN"] }').server.allowedHosts, [
    "bitrouter.lan",
  ]);
  assert.throws(
    () => load('{ cors_origins: ["http://x.example/path"] }'),
    (e) =>
      e instanceof ConfigError && /expected an origin like http:\/\/localhost:3000/.test(e.message),
  );
  assert.throws(
    () => load('{ allowed_hosts: ["http://x.example"] }'),
    (e) =>
      e instanceof ConfigError && /expected a host name without scheme or port/.test(e.message),
  );
});
