import { existsSync } from "node:fs";

/**
 * Debian's chromium: `$CHROMIUM` when set, else on PATH (or where the package puts it); a Google
 * Chrome on PATH also drives the test (GitHub's Ubuntu runners come with one, not with chromium).
 */
export function chromiumPath(): string {
  const chosen = Deno.env.get("CHROMIUM");
  if (chosen) return chosen;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").filter(Boolean)) {
    for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
      if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
    }
  }
  if (existsSync("/usr/bin/chromium")) return "/usr/bin/chromium";
  throw new Error(
    "chromium is not installed: the dashboard's browser test needs Debian's chromium (`sudo apt-get install chromium`; .ci/run installs it)",
  );
}
