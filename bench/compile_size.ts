/**
 * What `deno task compile` puts in the binary (SPEC §10: compile only what runs), for the report:
 * the built binary's size when dist/bitrouter exists; the files the task's flags embed, from
 * `deno compile`'s own listing (made with DENORT_BIN, else with this deno as the base binary, which
 * lists the same files without downloading denort); and the module graph of main.ts and its
 * `--include` modules with the npm packages it reaches, from `deno info --json`.
 */
import { log } from "./proc.ts";

/** The built binary. */
export interface BuiltBinary {
  path: string;
  bytes: number;
  modified: string | null;
}

/** `deno compile`'s listing of what the task's flags embed. */
export interface Embedded {
  files_bytes: number;
  /** The npm part of the listing, when it names one. */
  npm_bytes: number | null;
  npm_packages: string[];
  /** How the listing was made. */
  how: string;
  /** The output's size when DENORT_BIN named a real denort: the binary the task would build. */
  binary_bytes: number | null;
}

/** The module graph `deno info` reports, with the npm packages it reaches. */
export interface Graph {
  modules: number;
  local_bytes: number;
  npm_packages: string[];
  npm_bytes: number;
  /** Every package in node_modules/: what compiling without --exclude-unused-npm embeds. */
  node_modules_bytes: number;
}

/** Everything known about the compiled size. */
export interface CompileSize {
  /** The compile task's command line. */
  flags: string;
  binary: BuiltBinary | null;
  embedded: Embedded | null;
  graph: Graph | null;
  error: string | null;
}

/** The compile task's arguments after `deno compile`, from deno.json. */
async function compileTaskArgs(repo: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${repo}deno.json`)) as {
    tasks?: Record<string, string | { command?: string }>;
  };
  const task = config.tasks?.compile;
  const command = typeof task === "string" ? task : task?.command;
  if (!command?.startsWith("deno compile ")) {
    throw new Error("deno.json has no `compile` task of the form `deno compile …`");
  }
  return command.slice("deno compile ".length).trim().split(/\s+/);
}

/** Bytes from a size as `deno compile` prints it (1024-based units: 7.43KB, 92.75MB). */
export function parseSize(text: string): number {
  const m = /^([\d.]+)\s*(B|KB|MB|GB)$/.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  const power = ["B", "KB", "MB", "GB"].indexOf(m[2]);
  return Number(m[1]) * 1024 ** power;
}

/** The parts of `deno compile`'s "Embedded Files" listing the report uses. */
export function parseListing(text: string): Omit<Embedded, "how" | "binary_bytes"> {
  // deno-lint-ignore no-control-regex
  const lines = text.replace(/\x1b\[[0-9;]*m/g, "").split("\n");
  const files = lines.map((l) => /^Files:\s*(.+)$/.exec(l.trim())).find((m) => m);
  if (!files) throw new Error("deno compile printed no Embedded Files listing");
  let npm: number | null = null;
  const packages: string[] = [];
  let inNpm = false;
  for (const line of lines) {
    const top = /^[├└]─[─┬] (\.deno_compile_node_modules|node_modules)(\/\*)? \(([\d.]+\s*[KMG]?B)/
      .exec(line);
    if (top) {
      npm = parseSize(top[3]);
      inNpm = top[1] === ".deno_compile_node_modules";
      continue;
    }
    if (/^[├└]/.test(line)) inNpm = false;
    const pkg = inNpm ? /[├└]── (.+?)\/\* \(/.exec(line) : null;
    if (pkg) packages.push(pkg[1].replace(/\/(\d[^/]*)$/, "@$1"));
  }
  return { files_bytes: parseSize(files[1]), npm_bytes: npm, npm_packages: packages };
}

/** Runs the compile task's flags into a scratch file to read the listing; removes the file. */
async function embedded(repo: string, args: string[], dir: string): Promise<Embedded> {
  const denort = Deno.env.get("DENORT_BIN");
  const out = `${dir}/compile-size/bitrouter`;
  const flags = [...args];
  const o = flags.findIndex((a) => a === "--output" || a === "-o");
  if (o >= 0) flags.splice(o, 2);
  const entry = flags.pop()!;
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["compile", "--no-check", ...flags, "--output", out, entry],
    cwd: repo,
    env: { NO_COLOR: "1", DENORT_BIN: denort ?? Deno.execPath() },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
  try {
    if (!result.success) {
      throw new Error(`deno compile failed:\n${text.split("\n").slice(-8).join("\n")}`);
    }
    const bytes = denort ? (await Deno.stat(out)).size : null;
    return {
      ...parseListing(text),
      how: denort
        ? `deno compile's listing, with DENORT_BIN=${denort}`
        : "deno compile's listing (this deno as the base binary: denort cannot be downloaded here)",
      binary_bytes: bytes,
    };
  } finally {
    await Deno.remove(`${dir}/compile-size`, { recursive: true }).catch(() => {});
  }
}

/** Total size of the files under `path`, without following symlinks. */
async function treeBytes(path: string): Promise<number> {
  let total = 0;
  const stack = [path];
  while (stack.length) {
    const dir = stack.pop()!;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch {
      continue;
    }
    for (const e of entries) {
      if (e.isSymlink) continue;
      if (e.isDirectory) stack.push(`${dir}/${e.name}`);
      else if (e.isFile) total += (await Deno.lstat(`${dir}/${e.name}`)).size;
    }
  }
  return total;
}

interface InfoJson {
  modules: { kind: string; local?: string; size?: number; npmPackage?: string }[];
  npmPackages: Record<
    string,
    { name: string; version: string; dependencies: string[]; localPath?: string }
  >;
}

/** The graph of main.ts and the task's --include modules, from `deno info --json`. */
async function graph(repo: string, args: string[]): Promise<Graph> {
  const roots = [args[args.length - 1]];
  for (let i = 0; i < args.length - 1; i++) {
    if (args[i] === "--include" && /\.(ts|js|mjs|tsx|jsx)$/.test(args[i + 1])) {
      roots.push(args[i + 1]);
    }
  }
  const local = new Map<string, number>();
  const npm = new Set<string>();
  let packages: InfoJson["npmPackages"] = {};
  for (const root of roots) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", root],
      cwd: repo,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`deno info ${root} failed`);
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as InfoJson;
    packages = info.npmPackages;
    for (const m of info.modules) {
      if (m.local && m.size !== undefined) local.set(m.local, m.size);
      if (m.kind === "npm" && m.npmPackage) npm.add(m.npmPackage);
    }
  }
  // The packages reached: those imported, and everything they depend on.
  const reached = new Set<string>();
  const queue = [...npm];
  while (queue.length) {
    const id = queue.pop()!;
    if (reached.has(id)) continue;
    reached.add(id);
    const key = Object.keys(packages).find((k) => k === id || k.startsWith(`${id}_`));
    if (key) queue.push(...packages[key].dependencies);
  }
  let npmBytes = 0;
  const names: string[] = [];
  for (const id of reached) {
    const key = Object.keys(packages).find((k) => k === id || k.startsWith(`${id}_`));
    const p = key ? packages[key] : undefined;
    if (!p) continue;
    names.push(`${p.name}@${p.version}`);
    if (p.localPath) npmBytes += await treeBytes(p.localPath);
  }
  return {
    modules: local.size,
    local_bytes: [...local.values()].reduce((a, b) => a + b, 0),
    npm_packages: names.sort(),
    npm_bytes: npmBytes,
    node_modules_bytes: await treeBytes(`${repo}node_modules/.deno`),
  };
}

/** The binary the compile task built, if it is there (its --output, relative to the repo). */
async function builtBinary(repo: string, args: string[]): Promise<BuiltBinary | null> {
  const o = args.findIndex((a) => a === "--output" || a === "-o");
  const output = o >= 0 ? args[o + 1] : "dist/bitrouter";
  for (const path of [output, `${output}.exe`]) {
    try {
      const st = await Deno.stat(`${repo}${path}`);
      if (st.isFile) return { path, bytes: st.size, modified: st.mtime?.toISOString() ?? null };
    } catch {
      // not built
    }
  }
  return null;
}

/** The absolute path of the binary `deno task compile` built, if there is one. */
export async function compiledBinary(repo: string): Promise<string | undefined> {
  try {
    const built = await builtBinary(repo, await compileTaskArgs(repo));
    return built ? `${repo}${built.path}` : undefined;
  } catch {
    return undefined;
  }
}

/** The compiled size, as far as it can be known on this machine. */
export async function compileSize(repo: string, dir: string): Promise<CompileSize> {
  const result: CompileSize = { flags: "", binary: null, embedded: null, graph: null, error: null };
  const problems: string[] = [];
  let args: string[];
  try {
    args = await compileTaskArgs(repo);
  } catch (e) {
    return { ...result, error: (e as Error).message };
  }
  result.flags = `deno compile ${args.join(" ")}`;
  result.binary = await builtBinary(repo, args);
  log("compile size: deno compile's listing of the task's flags");
  try {
    result.embedded = await embedded(repo, args, dir);
  } catch (e) {
    problems.push((e as Error).message);
  }
  log("compile size: deno info of main.ts and the --include modules");
  try {
    result.graph = await graph(repo, args);
  } catch (e) {
    problems.push((e as Error).message);
  }
  result.error = problems.length ? problems.join("; ") : null;
  return result;
}
