/**
 * `bitrouter start` / `status` / `stop` / `restart` / `logs` through the real CLI: the router runs in the
 * background after `start` has exited, a second `start` is refused, and `stop` drains it — a
 * stream still running ends with its protocol's error within the grace period.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startFake } from "../fakes/upstream.ts";
import { type CliResult, runCli } from "./cli.ts";
import { within } from "./helpers.ts";

/** Runs `bitrouter ARGS` in `dir` (also its HOME), as the binary would, with a clean environment. */
function bitrouter(args: string[], dir: string): Promise<CliResult> {
  return runCli(args, {
    cwd: dir,
    env: {
      // `start` runs the router with Deno, and `stop` may ask `ps`.
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      // Deno's own cache stays where it is, though HOME moves.
      DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
      DENO_NO_UPDATE_CHECK: "1",
      BITROUTER_DISCOVERY: "off",
    },
  });
}

/**
 * True while `pid` is a live process (a zombie left for an init that does not reap is not).
 * Deno reads /proc only with --allow-all, so `cat` does.
 */
async function alive(pid: number): Promise<boolean> {
  const r = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`], stderr: "null" }).output();
  const stat = new TextDecoder().decode(r.stdout);
  return r.success && !/^\S+ \(.*\) [ZX]/.test(stat);
}

const READY = /^bitrouter ready on (http:\/\/127\.0\.0\.1:\d+)\/v1 — config /m;
const PID = /running in the background \(pid (\d+)\)/;

/** A folder with the config; every router started there is killed at the end, whatever happens. */
async function withFolder(
  config: string,
  body: (dir: string, started: Set<number>) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "bitrouter-daemon-" });
  await Deno.writeTextFile(`${dir}/bitrouter.yaml`, config);
  const started = new Set<number>();
  try {
    await body(dir, started);
  } finally {
    const left = await Deno.readTextFile(`${dir}/bitrouter.pid`).catch(() => "");
    if (/^\d+/.test(left)) started.add(parseInt(left));
    for (const pid of started) {
      if (await alive(pid)) Deno.kill(pid, "SIGKILL");
    }
    await Deno.remove(dir, { recursive: true });
  }
}

/** `start`, asserting it succeeded; the router's URL and pid. */
async function start(dir: string, started: Set<number>, args: string[] = []) {
  const r = await bitrouter(["start", "--listen", "127.0.0.1:0", ...args], dir);
  const pid = r.stdout.match(PID);
  if (pid) started.add(Number(pid[1]));
  assert.equal(r.code, 0, `start failed:\n${r.stdout}\n${r.stderr}`);
  const ready = r.stdout.match(READY);
  assert.ok(ready && pid, `no ready line or pid in:\n${r.stdout}`);
  return { url: ready[1], pid: Number(pid[1]), stdout: r.stdout };
}

async function health(url: string): Promise<number> {
  const res = await fetch(`${url}/health`);
  await res.body?.cancel();
  return res.status;
}

Deno.test({
  name:
    "start runs the router in the background; a second start is refused; logs, restart, status and stop",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withFolder("server: { watch: false, shutdown_grace_secs: 5 }\n", async (dir, started) => {
      const first = await start(dir, started);
      // `start` has exited; the router it left behind answers, and the pid file names it.
      assert.equal(await health(first.url), 200);
      assert.ok(await alive(first.pid));
      const pidFile = await Deno.readTextFile(`${dir}/bitrouter.pid`);
      assert.equal(pidFile, `${first.pid}\n${first.url}\n`);

      const second = await bitrouter(["start", "--listen", "127.0.0.1:0"], dir);
      assert.equal(second.code, 1, second.stdout);
      assert.match(
        second.stderr,
        new RegExp(
          `^error: bitrouter is already running \\(pid ${first.pid}, ${first.url}\\); stop it with \`bitrouter stop\`$`,
          "m",
        ),
      );
      assert.equal(second.stdout, "");
      assert.equal(await health(first.url), 200);

      const logs = await bitrouter(["logs", "-n", "5"], dir);
      assert.equal(logs.code, 0, logs.stderr);
      assert.match(logs.stdout, new RegExp(`bitrouter ready on ${first.url}/v1`));

      const restart = await bitrouter(["restart", "--listen", "127.0.0.1:0"], dir);
      const again = restart.stdout.match(PID);
      if (again) started.add(Number(again[1]));
      assert.equal(restart.code, 0, restart.stderr);
      assert.match(
        restart.stdout,
        new RegExp(`^stopped bitrouter \\(pid ${first.pid}\\) in `, "m"),
      );
      const url = restart.stdout.match(READY)?.[1];
      assert.ok(again && url, restart.stdout);
      const pid = Number(again[1]);
      assert.notEqual(pid, first.pid);
      assert.equal(await alive(first.pid), false, "the first router still runs after restart");
      assert.equal(await health(url), 200);
      const status = await bitrouter(["status", "--url", url], dir);
      assert.equal(status.code, 0, status.stderr);
      assert.match(
        status.stdout,
        new RegExp(`^bitrouter \\S+ at ${url} — config ${dir}/bitrouter.yaml`),
      );
      // Without --url: the address start noted (it listens on a port the config does not name).
      const found = await bitrouter(["status"], dir);
      assert.equal(found.code, 0, found.stderr);
      assert.match(found.stdout, new RegExp(`^bitrouter \\S+ at ${url} — `));

      const stop = await bitrouter(["stop"], dir);
      assert.equal(stop.code, 0, stop.stderr);
      assert.match(
        stop.stdout,
        new RegExp(`^stopped bitrouter \\(pid ${pid}\\) in \\d+\\.\\d+s$`, "m"),
      );
      assert.equal(await alive(pid), false, "the router still runs after stop");
      await assert.rejects(Deno.stat(`${dir}/bitrouter.pid`), Deno.errors.NotFound);
      await assert.rejects(fetch(`${url}/health`), TypeError);
      assert.equal((await bitrouter(["status", "--url", url], dir)).code, 1);

      const none = await bitrouter(["stop"], dir);
      assert.equal(none.code, 1);
      assert.equal(
        none.stderr.trim(),
        `error: no bitrouter is running (no pid file at ${dir}/bitrouter.pid)`,
      );
      // Both runs wrote to the one log, in order.
      const log = await Deno.readTextFile(`${dir}/bitrouter.log`);
      assert.equal(log.match(/bitrouter ready on/g)?.length, 2);
      assert.match(log, /INFO +stopped/);
    }),
});

Deno.test({
  name: "while another start holds the config's lock, start is refused and spawns nothing",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withFolder("server: { watch: false }\n", async (dir, started) => {
      // A start under way (this test process stands in for it: a live pid) holds the lock.
      await Deno.writeTextFile(`${dir}/bitrouter.pid.lock`, `${Deno.pid}\n`);
      const refused = await bitrouter(["start", "--listen", "127.0.0.1:0"], dir);
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(
        refused.stderr,
        new RegExp(`another \`bitrouter start\` or \`restart\` \\(pid ${Deno.pid}\\)`),
      );
      await assert.rejects(Deno.stat(`${dir}/bitrouter.pid`), Deno.errors.NotFound);
      await assert.rejects(Deno.stat(`${dir}/bitrouter.log`), Deno.errors.NotFound);
      // Once it is gone, start goes ahead and leaves no lock behind.
      await Deno.remove(`${dir}/bitrouter.pid.lock`);
      await start(dir, started);
      await assert.rejects(Deno.stat(`${dir}/bitrouter.pid.lock`), Deno.errors.NotFound);
      const stop = await bitrouter(["stop"], dir);
      assert.equal(stop.code, 0, stop.stderr);
    }),
});

Deno.test({
  name: "a stale pid file is replaced by start and reported by stop",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withFolder("server: { watch: false }\n", async (dir, started) => {
      // A pid that has exited: this short-lived process's.
      const gone = new Deno.Command("true").spawn();
      await gone.status;
      await Deno.writeTextFile(`${dir}/bitrouter.pid`, `${gone.pid}\n`);
      const stale = await bitrouter(["stop"], dir);
      assert.equal(stale.code, 1);
      assert.match(
        stale.stderr,
        /^error: no bitrouter is running \(pid \d+ in .* has exited; removed the stale pid file\)/,
      );
      await assert.rejects(Deno.stat(`${dir}/bitrouter.pid`), Deno.errors.NotFound);

      await Deno.writeTextFile(`${dir}/bitrouter.pid`, `${gone.pid}\n`);
      const { pid } = await start(dir, started);
      assert.equal((await Deno.readTextFile(`${dir}/bitrouter.pid`)).split("\n")[0], String(pid));
      const stop = await bitrouter(["stop"], dir);
      assert.equal(stop.code, 0, stop.stderr);
    }),
});

Deno.test({
  name: "start of a router that cannot run prints its error from the log and leaves no pid file",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withFolder("server: { listen: 127.0.0.1:0, shutdown_grace_secs: -1 }\n", async (dir) => {
      const r = await bitrouter(["start"], dir);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, /bitrouter.yaml:1:\d+: server.shutdown_grace_secs/);
      assert.match(r.stderr, /error: bitrouter exited \(code 1\) before it was ready/);
      await assert.rejects(Deno.stat(`${dir}/bitrouter.pid`), Deno.errors.NotFound);
    }),
});

Deno.test({
  name:
    "stop of a router running a stream: the stream ends with an error within the grace period and stop returns",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const ollama = await startFake({ kind: "ollama" });
    // The stream sends its first events, then nothing until aborted.
    ollama.fault = { type: "stall_after", chunks: 2 };
    const config = `
server: { shutdown_grace_secs: 1, watch: false }
upstream: { timeouts: { first_byte_secs: 60, idle_secs: 60 } }
providers:
  ollama: { api_base: "${ollama.apiBase}", models: [{ id: m, provider_model_id: "llama3.1:latest" }] }
`;
    try {
      await withFolder(config, async (dir, started) => {
        const { url, pid } = await start(dir, started);
        const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "x", maxRetries: 0 });
        const stream = await client.chat.completions.create({
          model: "m",
          messages: [{ role: "user", content: "hi" }],
          stream: true,
        });
        const chunks = stream[Symbol.asyncIterator]();
        const first = await chunks.next();
        assert.equal(first.done, false);
        const rest = (async () => {
          for (let n = await chunks.next(); !n.done; n = await chunks.next()) { /* drain */ }
        })().then(() => undefined, (e) => e);

        const stopAsked = performance.now();
        const stop = await within(bitrouter(["stop"], dir), 15_000, "stop did not return");
        const stopTook = performance.now() - stopAsked;
        const streamError = await within(
          rest,
          1_000,
          "the stream did not end by the time stop returned",
        );

        assert.ok(streamError instanceof OpenAI.APIError, `the stream ended with ${streamError}`);
        assert.match(streamError.message, /BitRouter is shutting down/);
        assert.equal(stop.code, 0, stop.stderr);
        assert.match(stop.stdout, new RegExp(`^stopped bitrouter \\(pid ${pid}\\)`, "m"));
        // The grace period (1 s), the router's flush, and this CLI's own start-up; never a kill.
        assert.ok(stopTook < 8_000, `stop took ${stopTook.toFixed(0)} ms`);
        assert.equal(await alive(pid), false);
        await assert.rejects(Deno.stat(`${dir}/bitrouter.pid`), Deno.errors.NotFound);
        const log = await Deno.readTextFile(`${dir}/bitrouter.log`);
        assert.match(log, /shutdown grace period of 1s is over: ended 1 running request/);
        assert.ok(ollama.requests[0]?.abortedAt !== undefined, "the upstream was not aborted");
      });
    } finally {
      await ollama.close();
    }
  },
});

Deno.test({
  name:
    "the pid and log files go beside the config named by -c, and in ~/.bitrouter in zero-config",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withFolder("server: { watch: false }\n", async (dir, started) => {
      // -c from the user's folder: the router's files beside that file; `stop` needs the same -c.
      await Deno.mkdir(`${dir}/etc`);
      await Deno.rename(`${dir}/bitrouter.yaml`, `${dir}/etc/bitrouter.yaml`);
      const named = await start(dir, started, ["-c", "etc/bitrouter.yaml"]);
      assert.match(
        named.stdout,
        new RegExp(`stop it with \`bitrouter stop -c ${dir}/etc/bitrouter.yaml\``),
      );
      assert.ok((await Deno.stat(`${dir}/etc/bitrouter.pid`)).isFile);
      assert.ok((await Deno.stat(`${dir}/etc/bitrouter.log`)).isFile);

      // No config anywhere (HOME is the folder too): zero-config, files in ~/.bitrouter.
      const r = await bitrouter(["start", "--listen", "127.0.0.1:0"], dir);
      const pid = r.stdout.match(PID);
      if (pid) started.add(Number(pid[1]));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^bitrouter ready on http:\/\/127\.0\.0\.1:\d+\/v1 — zero-config/);
      assert.equal(
        (await Deno.readTextFile(`${dir}/.bitrouter/bitrouter.pid`)).split("\n")[0],
        pid?.[1],
      );
      const logs = await bitrouter(["logs", "-n", "1"], dir);
      assert.match(logs.stdout, /— zero-config/);

      const zeroStop = await bitrouter(["stop"], dir);
      assert.match(zeroStop.stdout, new RegExp(`^stopped bitrouter \\(pid ${pid?.[1]}\\)`));
      assert.ok(await alive(named.pid), "stopping the zero-config router stopped the other");
      const namedStop = await bitrouter(["stop", "-c", "etc/bitrouter.yaml"], dir);
      assert.match(namedStop.stdout, new RegExp(`^stopped bitrouter \\(pid ${named.pid}\\)`));
      assert.equal(await alive(named.pid), false);
    }),
});
