/**
 * Hot reload through the real CLI (SPEC §2.4): SIGHUP and file changes swap the config in while
 * running streams finish on the old one; a broken file is reported with its position and the old
 * config keeps serving; endpoint health survives; zero-config finds a file written after start.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { type FakeUpstream, startFake } from "../fakes/upstream.ts";
import { type RunningRouter, startRouter } from "../e2e/helpers.ts";
import { runCli } from "../e2e/cli.ts";

const hi = [{ role: "user" as const, content: "hi" }];

/** Saves like an editor: a new file renamed over the old one. */
async function save(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(`${path}.tmp`, text);
  await Deno.rename(`${path}.tmp`, path);
}

function clientFor(router: RunningRouter): OpenAI {
  return new OpenAI({ baseURL: router.apiBase, apiKey: "unused", maxRetries: 0, timeout: 10_000 });
}

/** Which provider answers a plain request for `model` now. */
async function servedBy(client: OpenAI, model: string): Promise<string | null> {
  const { response } = await client.chat.completions.create({ model, messages: hi })
    .withResponse();
  return response.headers.get("x-bitrouter-provider");
}

/** A config routing model `m` to each named fake (first first). */
function routing(fakes: Record<string, FakeUpstream>, head = "server: { watch: false }"): string {
  const providers = Object.entries(fakes)
    .map(([id, f]) => `  ${id}: { api_base: "${f.apiBase}", models: [m] }`)
    .join("\n");
  return `${head}\nproviders:\n${providers}\n`;
}

/** Runs body with the fakes and a router over `config`, then stops and closes everything. */
async function withRouter(
  fakes: FakeUpstream[],
  config: string | undefined,
  body: (router: RunningRouter, client: OpenAI) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  let router: RunningRouter | undefined;
  try {
    router = await startRouter({ config, env });
    await body(router, clientFor(router));
  } finally {
    const status = await router?.stop();
    await Promise.all(fakes.map((f) => f.close()));
    if (status) assert.equal(status.code, 0, router!.stderr());
  }
}

Deno.test("SIGHUP during a stream: the stream finishes from the old provider, the next request goes to the new one", async () => {
  const one = await startFake({
    kind: "openai",
    models: ["m"],
    chunkDelayMs: 250,
    content: ["a", "b", "c", "d", "e", "f"],
  });
  const two = await startFake({ kind: "openai", models: ["m"], content: ["from two"] });
  await withRouter([one, two], routing({ one }), async (router, client) => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: "m", messages: hi, stream: true })
      .withResponse();
    assert.equal(response.headers.get("x-bitrouter-provider"), "one");
    const pieces: string[] = [];
    let finish: string | null = null;
    let reloadedAt = 0;
    for await (const chunk of stream) {
      const text = chunk.choices[0]?.delta?.content;
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (!text) continue;
      pieces.push(text);
      if (pieces.length !== 1) continue;
      // `one` leaves the config altogether while its stream runs.
      const from = router.stderr().length;
      await save(router.configPath, routing({ two }));
      router.kill("SIGHUP");
      await router.waitForStderr(/reloaded \S+ on SIGHUP: 1 provider \(\+two, -one\)/, 5_000, from);
      assert.equal(await servedBy(client, "m"), "two");
      reloadedAt = pieces.length;
    }
    assert.equal(reloadedAt, 1, "the reload did not happen while the stream ran");
    assert.deepEqual(pieces, ["a", "b", "c", "d", "e", "f"]);
    assert.equal(finish, "stop");
    assert.equal(one.requests.at(-1)?.abortedAt, undefined, "the old stream was cut");
    assert.equal(two.requests.length, 1);
  });
});

Deno.test("SIGHUP with a broken file: the log names file:line:column and key, the old config keeps serving", async () => {
  const one = await startFake({ kind: "openai", models: ["m"] });
  const two = await startFake({ kind: "openai", models: ["m"] });
  const good = routing({ one });
  await withRouter([one, two], good, async (router, client) => {
    const file = router.configPath.replaceAll(".", "\\.");
    const broken: [string, string, RegExp][] = [
      [
        "a wrong type",
        `server: { watch: false }\nproviders:\n  two:\n    api_base: 42\n    models: [m]\n`,
        new RegExp(
          `error: ${file}:4:15: providers\\.two\\.api_base: expected string, got number 42`,
        ),
      ],
      [
        "a YAML syntax error",
        `server: { watch: false }\nproviders:\n  two: { api_base: "${two.apiBase}", models: [m]\n`,
        new RegExp(`error: ${file}:\\d+:\\d+: invalid YAML: `),
      ],
      [
        "a dangling reference",
        `${routing({ two })}models:\n  smart: { endpoints: [{ provider: tow, service_id: m }] }\n`,
        new RegExp(
          `error: ${file}:5:36: models\\.smart\\.endpoints\\.0\\.provider: provider "tow" is not declared under providers: \\(did you mean "two"\\?\\)`,
        ),
      ],
      [
        "an unset variable outside api_key",
        `server: { watch: false }\nproviders:\n  two: { api_base: "\${BITROUTER_TEST_UNSET}", models: [m] }\n`,
        new RegExp(
          `error: ${file}:3:\\d+: providers\\.two\\.api_base: environment variable BITROUTER_TEST_UNSET is unset`,
        ),
      ],
    ];
    for (const [what, text, expected] of broken) {
      const from = router.stderr().length;
      await save(router.configPath, text);
      router.kill("SIGHUP");
      await router.waitForStderr(
        /reload \(SIGHUP\) failed: \S+ has \d+ error\(s\); still serving the previous config/,
        5_000,
        from,
      );
      const logged = await router.waitForStderr(expected, 1_000, from);
      assert.equal(await servedBy(client, "m"), "one", `after ${what}`);
      if (what === "a wrong type") {
        // The same words as `bitrouter config validate`.
        const validate = await runCli(["config", "validate", "-c", router.configPath]);
        assert.equal(validate.code, 1);
        assert.ok(validate.stdout.includes(logged[0]), `${validate.stdout}\nvs\n${logged[0]}`);
      }
    }
    assert.doesNotMatch(router.stderr(), /reloaded/);
    const from = router.stderr().length;
    await save(router.configPath, routing({ two }));
    router.kill("SIGHUP");
    await router.waitForStderr(/reloaded \S+ on SIGHUP/, 5_000, from);
    assert.equal(await servedBy(client, "m"), "two");
    assert.equal(two.requests.length, 1);
  });
});

Deno.test("a saved file reloads without a signal; a save that changes nothing is skipped", async () => {
  const one = await startFake({ kind: "openai", models: ["m"] });
  const two = await startFake({ kind: "openai", models: ["m"] });
  // No server.watch: watching is on by default with a file.
  const head = "server: { log_level: debug }";
  await withRouter([one, two], routing({ one }, head), async (router, client) => {
    assert.equal(await servedBy(client, "m"), "one");
    let from = router.stderr().length;
    await save(router.configPath, routing({ two }, head));
    await router.waitForStderr(
      /reloaded \S+ on file change: 1 provider \(\+two, -one\)/,
      5_000,
      from,
    );
    assert.equal(await servedBy(client, "m"), "two");

    from = router.stderr().length;
    await Deno.writeTextFile(router.configPath, routing({ two }, head));
    await router.waitForStderr(/content is unchanged; not reloading/, 5_000, from);
    assert.doesNotMatch(router.stderr().slice(from), /reloaded/);
  });
});

Deno.test("with server.watch: false a saved file is not reloaded until SIGHUP, which can turn watching on", async () => {
  const one = await startFake({ kind: "openai", models: ["m"] });
  const two = await startFake({ kind: "openai", models: ["m"] });
  await withRouter([one, two], routing({ one }), async (router, client) => {
    let from = router.stderr().length;
    await save(router.configPath, routing({ two }));
    // Nothing to wait for when nothing should happen: four debounce periods of quiet.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.doesNotMatch(router.stderr().slice(from), /reload/);
    assert.equal(await servedBy(client, "m"), "one");

    // The file now leaves server.watch at its default (true), which applies at once.
    await save(router.configPath, routing({ two }, "server: {}"));
    router.kill("SIGHUP");
    await router.waitForStderr(/reloaded \S+ on SIGHUP: .*changed: server\.watch/, 5_000, from);
    assert.equal(await servedBy(client, "m"), "two");
    from = router.stderr().length;
    await save(router.configPath, routing({ one }, "server: {}"));
    await router.waitForStderr(/reloaded \S+ on file change/, 5_000, from);
    assert.equal(await servedBy(client, "m"), "one");
  });
});

Deno.test("server.log_level applies on reload, and the reload itself is still logged", async () => {
  const one = await startFake({ kind: "openai", models: ["m"] });
  await withRouter([one], routing({ one }), async (router, client) => {
    const requestLine = /INFO {2}chat_completions m -> one:m/g;
    await servedBy(client, "m");
    assert.equal(router.stderr().match(requestLine)?.length, 1);

    let from = router.stderr().length;
    await save(router.configPath, routing({ one }, "server: { watch: false, log_level: warn }"));
    router.kill("SIGHUP");
    await router.waitForStderr(/reloaded \S+ on SIGHUP: .*changed: server\.log_level/, 5_000, from);
    await servedBy(client, "m");
    assert.equal(router.stderr().match(requestLine)?.length, 1, "logged at info under warn");

    from = router.stderr().length;
    await save(router.configPath, routing({ one }));
    router.kill("SIGHUP");
    await router.waitForStderr(/reloaded \S+ on SIGHUP: .*changed: server\.log_level/, 5_000, from);
    await servedBy(client, "m");
    await router.waitForStderr(requestLine, 5_000, from);
  });
});

Deno.test("endpoint health survives a reload: a cooling endpoint stays cooling", async () => {
  const one = await startFake({ kind: "openai", models: ["m"] });
  const two = await startFake({ kind: "openai", models: ["m"] });
  const three = await startFake({ kind: "openai", models: ["m"] });
  const config = (extra: string) =>
    `server: { watch: false }
health: { failures: 1, cooldown_secs: 120 }
providers:
  one: { api_base: "${one.apiBase}", models: [m] }
  two: { api_base: "${two.apiBase}", models: [m] }
${extra}models:
  smart: { endpoints: [{ provider: one, service_id: m }, { provider: two, service_id: m }] }
`;
  const status = async (router: RunningRouter) => {
    const res = await fetch(`${router.apiBase}/bitrouter/status`);
    const body = await res.json();
    return body.endpoints as { provider: string; state: string; cooling_for_secs: number }[];
  };
  await withRouter([one, two, three], config(""), async (router, client) => {
    one.fault = { type: "status", status: 503 };
    assert.equal(await servedBy(client, "smart"), "two");
    const before = await status(router);
    assert.deepEqual(before.map((e) => [e.provider, e.state]), [["one", "cooling"]]);

    const from = router.stderr().length;
    await save(
      router.configPath,
      config(`  three: { api_base: "${three.apiBase}", models: [m] }\n`),
    );
    router.kill("SIGHUP");
    await router.waitForStderr(/reloaded \S+ on SIGHUP: 3 providers \(\+three\)/, 5_000, from);
    const after = await status(router);
    assert.deepEqual(after.map((e) => [e.provider, e.state]), [["one", "cooling"]]);
    assert.ok(after[0].cooling_for_secs > 100, JSON.stringify(after));

    // Still cooling, so `smart` goes straight to two: one is not asked again.
    const asked = one.requests.length;
    const { response } = await client.chat.completions.create({ model: "smart", messages: hi })
      .withResponse();
    assert.equal(response.headers.get("x-bitrouter-provider"), "two");
    assert.equal(response.headers.get("x-bitrouter-attempts"), "1");
    assert.equal(one.requests.length, asked);
    assert.equal(await servedBy(client, "three:m"), "three", "the new config is not serving");
  });
});

Deno.test("zero-config: SIGHUP finds a bitrouter.yaml written after start, and watches it from then on", async () => {
  const one = await startFake({ kind: "openai", models: ["m"] });
  const two = await startFake({ kind: "openai", models: ["m"] });
  await withRouter([one, two], undefined, async (router, client) => {
    assert.match(router.readyLine, /zero-config/);
    let from = router.stderr().length;
    router.kill("SIGHUP");
    await router.waitForStderr(
      /reloaded zero-config on SIGHUP: \d+ providers.*; nothing changed/,
      5_000,
      from,
    );

    from = router.stderr().length;
    await save(router.configPath, routing({ one }, "server: {}"));
    router.kill("SIGHUP");
    await router.waitForStderr(
      /reloaded \S+bitrouter\.yaml \(was zero-config\) on SIGHUP: 1 provider \(\+one, -/,
      5_000,
      from,
    );
    assert.equal(await servedBy(client, "m"), "one");

    from = router.stderr().length;
    await save(router.configPath, routing({ two }, "server: {}"));
    await router.waitForStderr(/reloaded \S+ on file change/, 5_000, from);
    assert.equal(await servedBy(client, "m"), "two");
  }, { BITROUTER_DISCOVERY: "off" });
});
