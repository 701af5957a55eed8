import { existsSync } from "node:fs";

/** Debian's chromium: on PATH, or where the package puts it. */
export function chromiumPath(): string {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").filter(Boolean)) {
    for (const name of ["chromium", "chromium-browser"]) {
      if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
    }
  }
  if (existsSync("/usr/bin/chromium")) return "/usr/bin/chromium";
  throw new Error(
    "chromium is not installed: the dashboard's browser test needs Debian's chromium (`sudo apt-get install chromium`; .ci/run installs it)",
  );
}
