/** What a command may touch of the outside world; main.ts passes the real one, tests a fake. */
export interface Io {
  /** Writes one line to stdout. */
  out(line: string): void;
  /** Writes one line to stderr. */
  err(line: string): void;
  env(name: string): string | undefined;
  /** The folder the user ran the command from (INIT_CWD under `deno task`). */
  cwd: string;
  fetch: typeof fetch;
}

/** A misuse of the command line: main prints the command's usage to stderr and exits 2. */
export class UsageError extends Error {
  constructor(message: string, readonly usage: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure the user can act on: printed as `error: <what> (<hint>)`, exit 1. */
export class CliError extends Error {
  constructor(readonly what: string, readonly hint?: string) {
    super(hint ? `${what} (${hint})` : what);
    this.name = "CliError";
  }
}

/** Left-aligned columns for human output. */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) =>
    r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd()
  );
}
