import assert from "node:assert/strict";
import { runCli } from "./cli.ts";
import { startRouter } from "./helpers.ts";

const CONFIG = `
server:
  listen: 127.0.0.1:4356
  skip_auth: true
providers:
  ollama:
    api_base: http://localhost:11434/v1
    models:
      - id: llama3.1
        provider_model_id: llama3.1:8b
  lmstudio:
    api_base: http://localhost:1234/v1
    models: [llama3.1]
  openai:
    api_key: \${OPENAI_API_KEY}
    models: [{ id: gpt-4o-mini }]
models:
  smart:
    endpoints:
      - { provider: ollama, service_id: llama3.1 }
      - { provider: openai, service_id: gpt-4o-mini }
`;

async function withFolder(fn: (dir: string) => Promise<void>, config?: string) {
  const dir = await Deno.makeTempDir({ prefix: "bitrouter-cli-" });
  try {
    if (config !== undefined) await Deno.writeTextFile(`${dir}/bitrouter.yaml`, config);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("init writes a commented starter config in the user's folder that validates as written", async () => {
  await withFolder(async (dir) => {
    const init = await runCli(["init"], { cwd: dir });
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, new RegExp(`wrote ${dir}/bitrouter.yaml`));
    const text = await Deno.readTextFile(`${dir}/bitrouter.yaml`);
    for (
      const needle of [
        "skip_auth: true",
        "listen: 127.0.0.1:4356",
        "# ollama:",
        "11434",
        "# vllm:",
        "8000",
        "# lmstudio:",
        "1234",
        "# llamacpp:",
        "8080",
        "# openai:",
        "# anthropic:",
        "# openrouter:",
        "# groq:",
        "# discovery:",
        "#   interval_secs: 15",
      ]
    ) {
      assert.ok(text.includes(needle), needle);
    }
    const validate = await runCli(["config", "validate"], { cwd: dir });
    assert.equal(validate.code, 0, validate.stdout + validate.stderr);
    assert.match(validate.stdout, /^valid: /m);
  });
});

Deno.test("init refuses to overwrite without --force", async () => {
  await withFolder(async (dir) => {
    const again = await runCli(["init"], { cwd: dir });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^error: .*already exists \(pass --force/);
    assert.equal(await Deno.readTextFile(`${dir}/bitrouter.yaml`), "server: {}\n");
    const forced = await runCli(["init", "--force"], { cwd: dir });
    assert.equal(forced.code, 0);
    assert.match(await Deno.readTextFile(`${dir}/bitrouter.yaml`), /# ollama:/);
  }, "server: {}\n");
});

Deno.test("under deno task, init writes to the caller's folder from INIT_CWD", async () => {
  await withFolder(async (dir) => {
    const r = await runCli(["init", "-c", "sub/b.yaml"], { env: { INIT_CWD: dir } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await Deno.stat(`${dir}/sub/b.yaml`)).isFile);
  });
});

Deno.test("route prints the candidate chain for a pin and a cascade", async () => {
  await withFolder(async (dir) => {
    const pin = await runCli(["route", "ollama:llama3.1"], { cwd: dir });
    assert.equal(pin.code, 0, pin.stderr);
    assert.match(pin.stdout, /pinned/);
    assert.match(
      pin.stdout,
      /1\s+ollama\s+llama3\.1:8b\s+chat_completions\s+http:\/\/localhost:11434\/v1\/chat\/completions\s+active/,
    );
    const bare = await runCli(["route", "llama3.1", "--json"], { cwd: dir });
    const j = JSON.parse(bare.stdout);
    assert.equal(j.kind, "cascade");
    assert.deepEqual(
      j.candidates.map((c: { provider: string; model: string }) => `${c.provider}/${c.model}`),
      ["ollama/llama3.1:8b", "lmstudio/llama3.1"],
    );
  }, CONFIG);
});

Deno.test("route shows an inactive endpoint with its reason, and the key makes it active", async () => {
  await withFolder(async (dir) => {
    const r = await runCli(["route", "smart"], { cwd: dir });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /openai\s+gpt-4o-mini.*inactive: OPENAI_API_KEY unset/);
    const keyed = await runCli(["route", "smart", "--json"], {
      cwd: dir,
      env: { OPENAI_API_KEY: "sk-secret-value" },
    });
    const j = JSON.parse(keyed.stdout);
    assert.deepEqual(j.candidates.map((c: { active: boolean }) => c.active), [true, true]);
    assert.ok(!keyed.stdout.includes("sk-secret-value"), "a key must never be printed");
  }, CONFIG);
});

Deno.test("route exits 1 with the reason when nothing serves the model", async () => {
  await withFolder(async (dir) => {
    const r = await runCli(["route", "gpt-4o-mini"], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^error: model "gpt-4o-mini" is not available: provider openai is inactive because OPENAI_API_KEY unset/,
    );
  }, CONFIG);
});

Deno.test("models lists what resolves, with -p to filter and --json", async () => {
  await withFolder(async (dir) => {
    const r = await runCli(["models"], { cwd: dir });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /llama3\.1\s+ollama, lmstudio/);
    assert.match(r.stdout, /smart\s+ollama/);
    assert.ok(!r.stdout.includes("gpt-4o-mini"));
    const p = JSON.parse(
      (await runCli(["models", "-p", "lmstudio", "--json"], { cwd: dir })).stdout,
    );
    assert.deepEqual(p.models, [{ id: "llama3.1", providers: ["ollama", "lmstudio"] }]);
    const bad = await runCli(["models", "-p", "nope"], { cwd: dir });
    assert.equal(bad.code, 1);
  }, CONFIG);
});

Deno.test("providers shows each provider's status, reason, model count and source", async () => {
  await withFolder(async (dir) => {
    const j = JSON.parse((await runCli(["providers", "--json"], { cwd: dir })).stdout);
    assert.deepEqual(
      j.providers.map((
        p: Record<string, unknown>,
      ) => [p.id, p.active, p.reason, p.models, p.source]),
      [
        ["ollama", true, null, 1, "config"],
        ["lmstudio", true, null, 1, "config"],
        ["openai", false, "OPENAI_API_KEY unset", 1, "config"],
      ],
    );
    const text = await runCli(["providers"], { cwd: dir });
    assert.match(
      text.stdout,
      /openai\s+https:\/\/api\.openai\.com\/v1\s+chat_completions\s+inactive: OPENAI_API_KEY unset/,
    );
  }, CONFIG);
});

Deno.test("config validate prints each problem with file:line:column and exits 1", async () => {
  await withFolder(
    async (dir) => {
      const r = await runCli(["config", "validate"], { cwd: dir });
      assert.equal(r.code, 1);
      assert.ok(
        r.stdout.includes(
          `error: ${dir}/bitrouter.yaml:5:15: providers.ollama.api_base: expected an http(s) URL, got "localhost"`,
        ),
        r.stdout,
      );
      assert.ok(
        r.stdout.includes(
          `warning: ${dir}/bitrouter.yaml:6:5: providers.ollama.modles: unknown key, ignored (did you mean "models"?)`,
        ),
        r.stdout,
      );
      const j = JSON.parse((await runCli(["config", "validate", "--json"], { cwd: dir })).stdout);
      assert.equal(j.valid, false);
      assert.deepEqual(j.problems[0], {
        severity: "error",
        file: `${dir}/bitrouter.yaml`,
        line: 5,
        column: 15,
        path: "providers.ollama.api_base",
        message: 'expected an http(s) URL, got "localhost"',
      });
      const serve = await runCli(["serve"], { cwd: dir });
      assert.equal(serve.code, 1);
      assert.match(serve.stderr, /^error: cannot load .*bitrouter\.yaml:5:15/m);
    },
    "server:\n  skip_auth: true\nproviders:\n  ollama:\n    api_base: localhost\n    modles: [x]\n",
  );
});

Deno.test("config validate treats an unset ${VAR} as a warning", async () => {
  await withFolder(async (dir) => {
    const r = await runCli(["config", "validate"], { cwd: dir });
    assert.equal(r.code, 0, r.stdout);
    assert.match(
      r.stdout,
      /warning: .*:2:11: server\.listen: environment variable BR_LISTEN is unset/,
    );
    assert.ok(!r.stdout.includes("error:"), r.stdout);
    const serve = await runCli(["route", "x"], { cwd: dir });
    assert.equal(serve.code, 1);
    assert.match(serve.stderr, /BR_LISTEN is unset/);
  }, "server:\n  listen: ${BR_LISTEN}\n");
});

Deno.test("a missing -c file is an error, not a fallback", async () => {
  await withFolder(async (dir) => {
    const r = await runCli(["route", "llama3.1", "-c", "missing.yaml"], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: config file .*missing\.yaml does not exist/);
  }, CONFIG);
});

Deno.test("--version, --help and misuse behave as SPEC §1 says", async () => {
  const v = await runCli(["--version"]);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^bitrouter \d+\.\d+\.\d+ \(deno 2\.9\.6, [\w-]+\)\n$/);
  assert.deepEqual(Object.keys(JSON.parse((await runCli(["--version", "--json"])).stdout)), [
    "version",
    "deno",
    "target",
  ]);
  const help = await runCli(["route", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: bitrouter route MODEL/);
  const misuse = await runCli(["route", "--bogus"]);
  assert.equal(misuse.code, 2);
  assert.match(misuse.stderr, /Usage: bitrouter route MODEL/);
  assert.equal(misuse.stdout, "");
  const unknown = await runCli(["frobnicate"]);
  assert.equal(unknown.code, 2);
});

Deno.test("serve refuses a non-loopback listen with skip_auth: true, naming both fixes", async () => {
  await withFolder(async (dir) => {
    const r = await runCli(["serve", "--listen", "0.0.0.0:0"], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /refusing to listen on 0\.0\.0\.0:0.*server\.api_keys.*allow_open: true/s,
    );
  }, "server: { skip_auth: true }\n");
});

/** A loopback port nothing listens on (bound, then released). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("no key is printed by config validate, providers or route, in text or --json", async () => {
  const keys = ["5550001112223334", "0777000111", "sk-server-secret", "98765432109876543210"];
  const config = `
server:
  listen: 127.0.0.1:${freePort()}
  skip_auth: false
  api_keys: [${keys[0]}, "${keys[2]}"]
providers:
  hosted:
    api_base: http://127.0.0.1:${freePort()}/v1
    api_key: ${keys[1]}
    models: [m]
  openai:
    models: [gpt-4o-mini]
`;
  await withFolder(async (dir) => {
    const env = { OPENAI_API_KEY: keys[3] };
    const runs = [
      ["config", "validate"],
      ["config", "validate", "--json"],
      ["providers"],
      ["providers", "--json"],
      ["route", "hosted:m"],
      ["route", "hosted:m", "--json"],
      ["route", "gpt-4o-mini", "--json"],
    ];
    for (const args of runs) {
      const r = await runCli(args, { cwd: dir, env });
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
      for (const key of keys) {
        assert.ok(!(r.stdout + r.stderr).includes(key), `${args.join(" ")} printed a key`);
      }
    }
    // A key in the wrong shape is an error naming where, without the key.
    await Deno.writeTextFile(
      `${dir}/bitrouter.yaml`,
      `server:\n  api_keys: ${
        keys[0]
      }\nproviders:\n  hosted:\n    api_base: http://h.test/v1\n    api_key: [${keys[1]}]\n`,
    );
    for (const args of [["config", "validate"], ["config", "validate", "--json"], ["route", "x"]]) {
      const r = await runCli(args, { cwd: dir, env });
      assert.equal(r.code, 1, args.join(" "));
      assert.match(r.stdout + r.stderr, /server\.api_keys/);
      for (const key of keys) {
        assert.ok(!(r.stdout + r.stderr).includes(key), `${args.join(" ")} printed a key`);
      }
    }
  }, config);
});

Deno.test("route sends server.api_keys only to a server whose /health says it is a BitRouter", async () => {
  const key = "br-secret-key";
  const seen: { path: string; headers: [string, string][] }[] = [];
  // Another program on the configured port, answering every path like a BitRouter's status.
  const impostor = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push({ path: new URL(req.url).pathname, headers: [...req.headers] });
    return Response.json({ object: "bitrouter.status", version: "0", config: null, endpoints: [] });
  });
  try {
    await withFolder(
      async (dir) => {
        const r = await runCli(["route", "ollama:llama3.1", "--json"], { cwd: dir });
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(seen.map((s) => s.path), ["/health"], "asked /health, then nothing");
        for (const s of seen) {
          assert.ok(!s.headers.some(([, v]) => v.includes(key)), "the key reached another program");
        }
        assert.deepEqual(
          JSON.parse(r.stdout).candidates.map((c: { health: unknown }) => c.health),
          [null],
          "its answer is not shown as a BitRouter's health",
        );
      },
      `
server: { listen: "127.0.0.1:${impostor.addr.port}", skip_auth: false, api_keys: [${key}] }
providers:
  ollama: { api_base: "http://127.0.0.1:${freePort()}/v1", models: [llama3.1] }
`,
    );
  } finally {
    await impostor.shutdown();
  }
});

Deno.test("route still shows the health from a running BitRouter that requires a key", async () => {
  const key = "br-secret-key";
  const providers = `
providers:
  ollama: { api_base: "http://127.0.0.1:${freePort()}/v1", models: [llama3.1] }
`;
  const router = await startRouter({
    config: `server: { skip_auth: false, api_keys: [${key}] }\n${providers}`,
  });
  try {
    const port = new URL(router.url).port;
    await withFolder(
      async (dir) => {
        const r = await runCli(["route", "ollama:llama3.1"], { cwd: dir });
        assert.equal(r.code, 0, r.stderr);
        assert.match(
          r.stdout,
          new RegExp(`health from the bitrouter running at 127\\.0\\.0\\.1:${port}`),
        );
      },
      `server: { listen: "127.0.0.1:${port}", skip_auth: false, api_keys: [${key}] }\n${providers}`,
    );
  } finally {
    await router.stop();
  }
});
