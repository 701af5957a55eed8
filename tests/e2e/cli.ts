import { fileURLToPath } from "node:url";

/** The repository root, where deno.json and main.ts are. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Exactly the permissions the compiled binary gets (deno.json `compile`). */
export const BINARY_PERMISSIONS = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write",
  "--allow-run",
];

/** The output of one CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bitrouter ARGS` as the binary would, with `cwd` as the user's folder and only `env` set. */
export async function runCli(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...BINARY_PERMISSIONS, `${ROOT}main.ts`, ...args],
    cwd: options.cwd ?? ROOT,
    env: { HOME: options.cwd ?? "/nonexistent", NO_COLOR: "1", ...options.env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
