/**
 * The pieces of `start` / `stop` / `logs` that need no running router: where the files are, the
 * pid file, telling a bitrouter from a reused pid, re-running this program, `logs` on a file, the
 * commands' usage, and the launchd plist.
 */
import assert from "node:assert/strict";
import { main } from "../../main.ts";
import {
  daemonFilesFor,
  parsePidFile,
  readPidFile,
  withStartLock,
  writePidFile,
} from "../../src/cli/daemon_files.ts";
import { isBitrouterCommand, processState } from "../../src/cli/daemon_process.ts";
import type { Io } from "../../src/cli/io.ts";
import { logsCommand } from "../../src/cli/logs.ts";
import { selfCommand } from "../../src/cli/self_command.ts";
import { until } from "../e2e/helpers.ts";

/** An Io over a folder, collecting what a command prints. */
function fakeIo(cwd: string, vars: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: (n) => ({ HOME: cwd, ...vars })[n],
    cwd,
    fetch: () => Promise.reject(new Error("no network in this test")),
  };
  return { io, out, err };
}

async function withDir(body: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "bitrouter-daemon-unit-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the pid and log files sit beside the config file, else in BITROUTER_HOME or ~/.bitrouter", () => {
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  const beside = daemonFilesFor(
    { path: "/etc/bitrouter/bitrouter.yaml", source: "flag" },
    "/x",
    env({}),
  );
  assert.equal(beside.pid, "/etc/bitrouter/bitrouter.pid");
  assert.equal(beside.log, "/etc/bitrouter/bitrouter.log");
  const zero = { source: "zero-config" } as const;
  assert.equal(
    daemonFilesFor(zero, "/x", env({ HOME: "/home/me" })).pid,
    "/home/me/.bitrouter/bitrouter.pid",
  );
  assert.equal(
    daemonFilesFor(zero, "/work", env({ HOME: "/home/me", BITROUTER_HOME: "br" })).log,
    "/work/br/bitrouter.log",
  );
  assert.throws(() => daemonFilesFor(zero, "/x", env({})), /HOME is unset/);
});

Deno.test("a pid file holds the pid and, once ready, the URL; anything else is no pid file", async () => {
  assert.deepEqual(parsePidFile("123\nhttp://127.0.0.1:4356\n"), {
    pid: 123,
    url: "http://127.0.0.1:4356",
  });
  assert.deepEqual(parsePidFile("123\n"), { pid: 123 });
  assert.equal(parsePidFile(""), undefined);
  assert.equal(parsePidFile("0\n"), undefined);
  assert.equal(parsePidFile("12ab\n"), undefined);
  await withDir(async (dir) => {
    const path = `${dir}/bitrouter.pid`;
    assert.equal(await readPidFile(path), undefined);
    await writePidFile(path, { pid: 42 });
    await writePidFile(path, { pid: 42, url: "http://127.0.0.1:1" });
    assert.deepEqual(await readPidFile(path), { pid: 42, url: "http://127.0.0.1:1" });
    // The temporary file was renamed over the pid file, not left behind.
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["bitrouter.pid"]);
  });
});

Deno.test("a reused pid running another program is not taken for a bitrouter", () => {
  const deno = { execPath: "/usr/bin/deno", mainPath: "/src/br/main.ts" };
  const binary = { execPath: "/opt/br" };
  assert.ok(
    isBitrouterCommand("/usr/bin/deno run --allow-net /src/br/main.ts serve -c /a.yaml", deno),
  );
  assert.ok(isBitrouterCommand("/usr/local/bin/bitrouter serve", deno));
  // A renamed binary is recognised as the same program as this one.
  assert.ok(isBitrouterCommand("/opt/br serve", binary));
  assert.ok(isBitrouterCommand("/opt/br serve -c /etc/bitrouter/bitrouter.yaml", binary));
  // Paths with spaces (macOS's Application Support).
  assert.ok(
    isBitrouterCommand(
      "/Users/me/Library/Application Support/bin/bitrouter serve -c /Users/me/a b/c.yaml",
      { execPath: "/Users/me/Library/Application Support/bin/bitrouter" },
    ),
  );
  assert.ok(
    isBitrouterCommand("/usr/bin/deno run /Users/me/my code/br/main.ts serve", {
      execPath: "/usr/bin/deno",
      mainPath: "/Users/me/my code/br/main.ts",
    }),
  );
  // Not ours: another program's `serve`, another install's main.ts, other commands.
  assert.ok(!isBitrouterCommand("/usr/bin/deno serve app.ts", deno));
  assert.ok(!isBitrouterCommand("/usr/bin/deno run /elsewhere/main.ts serve", deno));
  assert.ok(!isBitrouterCommand("/opt/br-old/tool serve", binary));
  assert.ok(!isBitrouterCommand("/usr/sbin/nginx -g daemon off;", deno));
  assert.ok(!isBitrouterCommand("/usr/local/bin/bitrouter logs -f", deno));
  assert.ok(!isBitrouterCommand("python3 -m http.server", deno));
  assert.ok(!isBitrouterCommand("/srv/bitrouter-data/app serve", binary));
});

Deno.test("this program re-runs itself: the binary directly, or deno run with the binary's permissions over main.ts", () => {
  assert.deepEqual(
    selfCommand(["serve", "-c", "/a.yaml"], {
      standalone: true,
      execPath: "/usr/local/bin/bitrouter",
      mainUrl: "file:///ignored/main.ts",
    }),
    { program: "/usr/local/bin/bitrouter", args: ["serve", "-c", "/a.yaml"] },
  );
  assert.deepEqual(
    selfCommand(["serve"], {
      standalone: false,
      execPath: "/bin/deno",
      mainUrl: "file:///src/br/main.ts",
    }),
    {
      program: "/bin/deno",
      args: [
        "run",
        "--quiet",
        "--allow-net",
        "--allow-env",
        "--allow-read",
        "--allow-write",
        "/src/br/main.ts",
        "serve",
      ],
    },
  );
  // Without a runtime, this one: main.ts of this checkout.
  const here = selfCommand(["serve"]);
  assert.equal(here.program, Deno.execPath());
  assert.ok(Deno.statSync(here.args.at(-2)!).isFile);
});

Deno.test("logs prints the last N lines, a partial last line included", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/bitrouter.yaml`, "");
    const lines = Array.from({ length: 100 }, (_, i) => `line ${i + 1}`);
    await Deno.writeTextFile(`${dir}/bitrouter.log`, lines.join("\n") + "\n");
    const a = fakeIo(dir);
    assert.equal(await main(["logs", "-n", "3"], a.io), 0);
    assert.deepEqual(a.out, ["line 98", "line 99", "line 100"]);
    const b = fakeIo(dir);
    assert.equal(await main(["logs"], b.io), 0);
    assert.equal(b.out.length, 50);
    assert.equal(b.out[0], "line 51");
    await Deno.writeTextFile(`${dir}/bitrouter.log`, "half", { append: true });
    const c = fakeIo(dir);
    assert.equal(await main(["logs", "-n", "2"], c.io), 0);
    assert.deepEqual(c.out, ["line 100", "half"]);
  });
});

Deno.test("logs reads the log beside the config named by -c, and past a 64 KiB block", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/etc`);
    await Deno.writeTextFile(`${dir}/etc/bitrouter.yaml`, "");
    const long = "x".repeat(70 * 1024);
    await Deno.writeTextFile(`${dir}/etc/bitrouter.log`, `first\n${long}\nlast\n`);
    const r = fakeIo(dir);
    assert.equal(await main(["logs", "-c", "etc/bitrouter.yaml", "-n", "3"], r.io), 0);
    assert.deepEqual(r.out, ["first", long, "last"]);
  });
});

Deno.test("logs -f prints lines as they are appended, each whole, until stopped", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/bitrouter.yaml`, "");
    const log = `${dir}/bitrouter.log`;
    await Deno.writeTextFile(log, "old 1\nold 2\nhalf");
    const { io, out } = fakeIo(dir);
    const stop = new AbortController();
    const following = logsCommand(["-f", "-n", "2"], io, stop.signal);
    await until(() => out.length === 1, 5_000, "the old line");
    assert.deepEqual(out, ["old 2"]);
    await Deno.writeTextFile(log, " a line\nnew 1\nnew", { append: true });
    await until(() => out.length === 3, 5_000, "the appended lines");
    await Deno.writeTextFile(log, " 2\n", { append: true });
    await until(() => out.length === 4, 5_000, "the finished line");
    assert.deepEqual(out, ["old 2", "half a line", "new 1", "new 2"]);
    stop.abort();
    assert.equal(await following, 0);
  });
});

Deno.test("start, stop, restart and logs: --help on stdout exits 0, a misuse exits 2, no log file exits 1", async () => {
  await withDir(async (dir) => {
    for (const command of ["start", "stop", "restart", "logs"]) {
      const help = fakeIo(dir);
      assert.equal(await main([command, "--help"], help.io), 0);
      assert.match(help.out.join("\n"), new RegExp(`^Usage: bitrouter ${command} `));
      const misuse = fakeIo(dir);
      assert.equal(await main([command, "--bogus"], misuse.io), 2);
      assert.match(
        misuse.err.join("\n"),
        new RegExp(`--bogus[\\s\\S]*Usage: bitrouter ${command} `),
      );
    }
    const listen = fakeIo(dir);
    assert.equal(await main(["start", "--listen", "nowhere"], listen.io), 2);
    assert.match(listen.err[0], /--listen expects HOST:PORT, got "nowhere"/);
    const lines = fakeIo(dir);
    assert.equal(await main(["logs", "-n", "ten"], lines.io), 2);
    const none = fakeIo(dir);
    assert.equal(await main(["logs"], none.io), 1);
    assert.match(none.err[0], new RegExp(`^error: no log file at ${dir}/.bitrouter/bitrouter.log`));
    const help = fakeIo(dir);
    assert.equal(await main(["--help"], help.io), 0);
    assert.match(help.out[0], /start +start it in the background/);
  });
});

/** A plist as plain values: just enough of Apple's format to read config/dev.bitrouter.plist. */
function parsePlist(xml: string): unknown {
  const body = xml.replace(/<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<!--[\s\S]*?-->/g, "");
  const tokens = [...body.matchAll(/<(\/?)(\w+)(?:\s[^>]*?)?(\/?)>|([^<]+)/g)].filter((m) =>
    m[4] === undefined || m[4].trim() !== ""
  );
  let i = 0;
  const expect = (name: string, closing: boolean) => {
    const t = tokens[i++];
    assert.ok(
      t && t[2] === name && (t[1] === "/") === closing,
      `expected <${closing ? "/" : ""}${name}> at token ${i}`,
    );
  };
  const text = (name: string) => {
    expect(name, false);
    const t = tokens[i];
    const value = t?.[4] !== undefined ? (i++, t[4]) : "";
    expect(name, true);
    return value;
  };
  const value = (): unknown => {
    const t = tokens[i];
    assert.ok(t && t[2], `expected an element at token ${i}`);
    if (t[3] === "/") {
      i++;
      if (t[2] === "true") return true;
      if (t[2] === "false") return false;
      throw new Error(`unexpected <${t[2]}/>`);
    }
    if (t[2] === "string") return text("string");
    if (t[2] === "integer") return Number(text("integer"));
    if (t[2] === "array") {
      expect("array", false);
      const items: unknown[] = [];
      while (tokens[i]?.[1] !== "/") items.push(value());
      expect("array", true);
      return items;
    }
    if (t[2] === "dict") {
      expect("dict", false);
      const entries: Record<string, unknown> = {};
      while (tokens[i]?.[1] !== "/") {
        const key = text("key");
        entries[key] = value();
      }
      expect("dict", true);
      return entries;
    }
    throw new Error(`unexpected <${t[2]}>`);
  };
  expect("plist", false);
  const root = value();
  expect("plist", true);
  assert.equal(i, tokens.length, "text after </plist>");
  return root;
}

Deno.test("the launchd plist is well formed and runs `bitrouter serve -c` with time to drain", async () => {
  const xml = await Deno.readTextFile(new URL("../../config/dev.bitrouter.plist", import.meta.url));
  // XML forbids "--" inside a comment.
  for (const c of xml.matchAll(/<!--([\s\S]*?)-->/g)) assert.ok(!c[1].includes("--"), c[1]);
  const plist = parsePlist(xml) as Record<string, unknown>;
  assert.equal(plist.Label, "dev.bitrouter");
  assert.deepEqual((plist.ProgramArguments as string[]).slice(0, 3), [
    "/usr/local/bin/bitrouter",
    "serve",
    "-c",
  ]);
  assert.equal(plist.RunAtLoad, true);
  assert.ok(plist.KeepAlive);
  // launchd's SIGKILL must come after the default 30 s grace period.
  assert.ok((plist.ExitTimeOut as number) > 30);
  assert.match(plist.StandardOutPath as string, /^\/usr\/local\/var\/log\//);
  assert.match(plist.StandardErrorPath as string, /^\/usr\/local\/var\/log\//);
});

Deno.test("a start lock left by a start that died is taken over; one held by a running process is refused", async () => {
  await withDir(async (dir) => {
    const files = daemonFilesFor(
      { path: `${dir}/bitrouter.yaml`, source: "flag" },
      dir,
      () => undefined,
    );
    const lock = `${files.pid}.lock`;
    await Deno.writeTextFile(lock, "999999\n");
    let ran = false;
    await withStartLock(files, (pid) => Promise.resolve(pid !== 999999), () => {
      ran = true;
      return Promise.resolve();
    });
    assert.ok(ran, "the dead holder's lock was taken over");
    await assert.rejects(Deno.stat(lock), Deno.errors.NotFound, "released after the body");

    await Deno.writeTextFile(lock, "4242\n");
    await assert.rejects(
      withStartLock(files, () => Promise.resolve(true), () => Promise.resolve()),
      /another `bitrouter start` or `restart` \(pid 4242\)/,
    );
    assert.equal(await Deno.readTextFile(lock), "4242\n", "a live holder's lock is left alone");
  });
});

Deno.test({
  name: "a ps that does not take -p (BusyBox's) is not read as 'exited': /proc is asked instead",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await withDir(async (dir) => {
      await Deno.writeTextFile(
        `${dir}/ps`,
        "#!/bin/sh\necho 'ps: unrecognized option: p' >&2\nexit 1\n",
      );
      await Deno.chmod(`${dir}/ps`, 0o755);
      const path = Deno.env.get("PATH") ?? "";
      Deno.env.set("PATH", `${dir}:${path}`);
      try {
        // This test's own process: alive, and not a bitrouter.
        assert.equal(await processState(Deno.pid), "other");
      } finally {
        Deno.env.set("PATH", path);
      }
    });
  },
});
