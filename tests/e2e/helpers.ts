/**
 * Helpers for end-to-end tests that run the real CLI (`main.ts serve`) as a child process.
 */

/** The repository root, found from this file so the tests run from any checkout. */
export const REPO_ROOT = new URL("../../", import.meta.url);

/** Variables the child keeps from this process: enough for Deno to find its cache, no more. */
const PASSED_THROUGH = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "SYSTEMROOT"];

export interface RunningRouter {
  /** "http://127.0.0.1:PORT" */
  readonly url: string;
  /** url + "/v1", what an OpenAI client takes as baseURL */
  readonly apiBase: string;
  /** the line the CLI printed when ready */
  readonly readyLine: string;
  /** everything the child wrote to stdout / stderr so far */
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then wait (bounded) for the exit; resolves with the exit status */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
  /** The config file (in zero-config: where `./bitrouter.yaml` would be, in the child's folder) */
  readonly configPath: string;
  /** The child's process id (the Deno running main.ts), e.g. to read its memory in /proc */
  readonly pid: number;
  /** Sends a signal to the child (nothing once it has exited) */
  kill(signal: Deno.Signal): void;
  /** The exit status, once the child has exited (by itself or a signal) and its output is read */
  readonly exited: Promise<Deno.CommandStatus>;
  /**
   * Resolves with the first match of pattern in stderr after character `from` (default 0), as
   * soon as it is written; fails after ms or when the child exits without writing it.
   */
  waitForStderr(pattern: RegExp, ms: number, from?: number): Promise<RegExpMatchArray>;
}

export interface StartRouterOptions {
  /**
   * YAML text of the config file; undefined runs zero-config: no `-c`, and a fresh empty
   * folder as both the working directory and HOME, so no bitrouter.yaml is found anywhere.
   */
  config?: string;
  /** the child's environment on top of the pass-through set (nothing else is inherited) */
  env?: Record<string, string>;
  /** how long to wait for the ready line */
  readyTimeoutMs?: number;
  /** run the child under `ulimit -n` of this many file descriptors (Linux, through bash) */
  openFileLimit?: number;
}

/**
 * Writes the config to a temporary directory and starts `main.ts serve -c FILE --listen
 * 127.0.0.1:0`; resolves once the CLI printed its URL.
 */
export async function startRouter(options: StartRouterOptions): Promise<RunningRouter> {
  const dir = await Deno.makeTempDir({ prefix: "bitrouter-e2e-" });
  const configPath = `${dir}/bitrouter.yaml`;
  const zeroConfig = options.config === undefined;
  if (!zeroConfig) await Deno.writeTextFile(configPath, options.config!);

  const env: Record<string, string> = { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" };
  for (const name of PASSED_THROUGH) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  if (zeroConfig) {
    // Keep Deno's cache where it is, but let HOME point where no ~/.bitrouter exists.
    env.DENO_DIR ??= `${Deno.env.get("HOME")}/.cache/deno`;
    env.HOME = dir;
  }
  Object.assign(env, options.env);

  const command = [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    "--allow-write",
    new URL("main.ts", REPO_ROOT).pathname,
    "serve",
    ...(zeroConfig ? [] : ["-c", configPath]),
    "--listen",
    "127.0.0.1:0",
  ];
  const [program, ...args] = options.openFileLimit === undefined
    ? command
    : ["bash", "-c", `ulimit -n ${options.openFileLimit} && exec "$@"`, "bash", ...command];
  const child = new Deno.Command(program, {
    args,
    cwd: zeroConfig ? dir : REPO_ROOT,
    // Inherit nothing (no stray OPENAI_API_KEY, no HTTP_PROXY that would swallow loopback calls).
    clearEnv: true,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  let out = "";
  let err = "";
  const watchers = new Set<() => void>();
  const onOutput = () => watchers.forEach((w) => w());
  const drain = async (stream: ReadableStream<Uint8Array>, append: (text: string) => void) => {
    const decoder = new TextDecoder();
    for await (const bytes of stream) {
      append(decoder.decode(bytes, { stream: true }));
      onOutput();
    }
  };
  // Drain both pipes for the child's whole life, or a chatty child blocks on a full pipe.
  const drained = Promise.all([
    drain(child.stdout, (text) => out += text),
    drain(child.stderr, (text) => err += text),
  ]);

  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    onOutput();
    return s;
  });

  const READY = /http:\/\/127\.0\.0\.1:(\d+)/;
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ready = await new Promise<{ port: number; line: string } | string>((resolve) => {
    const check = () => {
      const line = out.split("\n").find((l) => READY.test(l));
      if (line !== undefined) resolve({ port: Number(line.match(READY)![1]), line });
      else if (exited) resolve("exited before printing its URL");
    };
    watchers.add(check);
    timer = setTimeout(
      () => resolve(`no URL on stdout after ${readyTimeoutMs} ms`),
      readyTimeoutMs,
    );
    check();
  });
  clearTimeout(timer);
  watchers.clear();

  const stop = async (graceMs = 10_000): Promise<Deno.CommandStatus> => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      killTimer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
        resolve();
      }, graceMs);
    });
    const result = await Promise.race([status, killed.then(() => status)]);
    clearTimeout(killTimer);
    await drained;
    await Deno.remove(dir, { recursive: true });
    return result;
  };

  if (typeof ready === "string") {
    await stop(2_000);
    throw new Error(
      `bitrouter serve ${ready}\n--- config ---\n${options.config}\n--- stdout ---\n${out}\n` +
        `--- stderr ---\n${err}`,
    );
  }

  // Exited and every byte it wrote read, so a test that awaits it sees the last log lines.
  let over = false;
  const exitedAndRead = Promise.all([status, drained]).then(([s]) => {
    over = true;
    onOutput();
    return s;
  });
  const waitForStderr = (pattern: RegExp, ms: number, from = 0) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(new Error(`no ${pattern} on stderr after ${ms} ms; it has:\n${err.slice(from)}`));
      }, ms);
      const check = () => {
        const m = err.slice(from).match(pattern);
        if (!m && !over) return;
        clearTimeout(timer);
        watchers.delete(check);
        if (m) resolve(m);
        else reject(new Error(`exited without writing ${pattern} to stderr:\n${err}`));
      };
      watchers.add(check);
      check();
    });

  const url = `http://127.0.0.1:${ready.port}`;
  return {
    url,
    apiBase: `${url}/v1`,
    readyLine: ready.line,
    stdout: () => out,
    stderr: () => err,
    stop,
    configPath,
    pid: child.pid,
    kill(signal) {
      if (exited) return;
      try {
        child.kill(signal);
      } catch { /* already gone */ }
    },
    exited: exitedAndRead,
    waitForStderr,
  };
}

/** The value of promise, or a failure when it takes longer than ms (a missed event must fail). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once check() is (or resolves) true, polling every few ms; fails after ms. */
export async function until(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!await check()) {
    if (performance.now() > deadline) throw new Error(`${what}: not after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
