import { VERSION } from "../version.ts";
import type { Io } from "./io.ts";

/** `bitrouter --version`: version, Deno version, build target. */
export function versionCommand(json: boolean, io: Io): number {
  const info = { version: VERSION, deno: Deno.version.deno, target: Deno.build.target };
  io.out(
    json ? JSON.stringify(info) : `bitrouter ${info.version} (deno ${info.deno}, ${info.target})`,
  );
  return 0;
}
