/**
 * Portkey's open-source gateway as a bench target (SPEC §9: BitRouter ≥ 10× its throughput, plain
 * and stream). Never part of the tests: it is installed on demand, with npm, into a cache folder
 * outside the repo, and run with node in front of the same upstream as every other target.
 */
import { findExecutable, freePort, log, spawn } from "./proc.ts";
import { UPSTREAM_PATH, waitForHttp } from "./upstream.ts";
import type { Target } from "./targets.ts";

/** The gateway's version, pinned exactly so that runs months apart measure the same program. */
export const PORTKEY_VERSION = "1.15.2";

/**
 * The package.json of the install: the gateway, and the versions of its server libraries that
 * relay streams (newer `@hono/node-server` and `hono` break its streaming on node).
 */
function portkeyPackage(): string {
  return JSON.stringify(
    {
      name: "bitrouter-bench-portkey",
      private: true,
      description: "Portkey's gateway for `deno task bench --targets portkey` (bench/portkey.ts)",
      dependencies: { "@portkey-ai/gateway": PORTKEY_VERSION },
      overrides: { "@hono/node-server": "1.13.5", "hono": "4.9.7" },
    },
    null,
    2,
  ) + "\n";
}

/** Where the gateway is installed: `$XDG_CACHE_HOME/bitrouter-bench/portkey`, else ~/.cache/…. */
export function portkeyDir(): string {
  const cache = Deno.env.get("XDG_CACHE_HOME") ||
    `${Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? "."}/.cache`;
  return `${cache}/bitrouter-bench/portkey`;
}

/** The installed gateway's version, if any. */
async function installedVersion(dir: string): Promise<string | undefined> {
  try {
    const text = await Deno.readTextFile(
      `${dir}/node_modules/@portkey-ai/gateway/package.json`,
    );
    return (JSON.parse(text) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** Installs the pinned gateway into portkeyDir() unless it is there already; returns the dir. */
export async function installPortkey(): Promise<string> {
  const dir = portkeyDir();
  const pkg = portkeyPackage();
  const current = await Deno.readTextFile(`${dir}/package.json`).catch(() => "");
  if (current === pkg && await installedVersion(dir) === PORTKEY_VERSION) return dir;
  const npm = findExecutable("npm");
  if (!npm) throw new Error("--targets portkey needs node and npm on PATH");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/package.json`, pkg);
  log(`portkey: npm install @portkey-ai/gateway@${PORTKEY_VERSION} into ${dir}`);
  // No install scripts: the gateway is plain JavaScript and needs none.
  const proc = spawn(
    "npm install",
    npm,
    ["install", "--no-audit", "--no-fund", "--ignore-scripts"],
    {
      cwd: dir,
    },
  );
  const [status] = await Promise.all([proc.done, proc.drained]);
  if (!status.success || await installedVersion(dir) !== PORTKEY_VERSION) {
    throw new Error(`npm install in ${dir} failed (exit ${status.code})\n${proc.tail()}`);
  }
  return dir;
}

/**
 * Starts the gateway with node on a free port and returns it as a target. Portkey is told the
 * upstream per request: `x-portkey-provider: openai` with `x-portkey-custom-host` set to the
 * upstream's base URL (loopback is on its default list of trusted custom hosts).
 */
export async function startPortkey(origin: string): Promise<Target> {
  const node = findExecutable("node");
  if (!node) throw new Error("--targets portkey needs node on PATH");
  const dir = await installPortkey();
  const port = freePort();
  const proc = spawn("portkey", node, [
    `${dir}/node_modules/@portkey-ai/gateway/build/start-server.js`,
    `--port=${port}`,
    "--headless",
  ], { cwd: dir, env: { NODE_ENV: "production" } });
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  const base = (path: string) => origin + path.slice(0, -"/chat/completions".length);
  const headers = {
    plain: { "x-portkey-provider": "openai", "x-portkey-custom-host": base(UPSTREAM_PATH.plain) },
    stream: { "x-portkey-provider": "openai", "x-portkey-custom-host": base(UPSTREAM_PATH.stream) },
  };
  await waitForHttp(url, proc, 30_000, headers.plain);
  return { name: "portkey", url: { plain: url, stream: url }, headers, proc };
}

/** The node version that runs the gateway, for the report. */
export async function nodeVersion(): Promise<string | null> {
  const node = findExecutable("node");
  if (!node) return null;
  const out = await new Deno.Command(node, { args: ["--version"], stdout: "piped" }).output()
    .catch(() => undefined);
  return out?.success ? new TextDecoder().decode(out.stdout).trim() : null;
}
