import { fileURLToPath } from "node:url";

/** A program and its arguments. */
export interface SelfCommand {
  program: string;
  args: string[];
}

/** What `serve` needs: the binary's permissions (SPEC §10) but --allow-run, which only `start` and `stop` use. */
export const SERVE_PERMISSIONS = ["--allow-net", "--allow-env", "--allow-read", "--allow-write"];

/** How this program was started: a compiled binary, or Deno running main.ts. */
export interface SelfRuntime {
  standalone: boolean;
  execPath: string;
  /** main.ts as a file URL (used only when not standalone) */
  mainUrl: string;
}

/** This process's runtime: main.ts is found from this file, which sits two folders below it. */
export function currentRuntime(): SelfRuntime {
  return {
    standalone: Deno.build.standalone,
    execPath: Deno.execPath(),
    mainUrl: new URL("../../main.ts", import.meta.url).href,
  };
}

/**
 * The command that runs this same bitrouter with `args`: the binary itself, or `deno run` with the
 * binary's permissions over main.ts (Deno finds the project's deno.json beside it).
 */
export function selfCommand(args: string[], runtime: SelfRuntime = currentRuntime()): SelfCommand {
  if (runtime.standalone) return { program: runtime.execPath, args };
  return {
    program: runtime.execPath,
    args: ["run", "--quiet", ...SERVE_PERMISSIONS, fileURLToPath(runtime.mainUrl), ...args],
  };
}
