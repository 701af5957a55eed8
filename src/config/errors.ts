/** Where in a config file something was found. */
export interface Location {
  file: string;
  line: number;
  column: number;
}

/** One problem found while loading a config: an error stops the load, a warning does not. */
export interface Diagnostic {
  severity: "error" | "warning";
  /** Dotted key path, e.g. `providers.ollama.api_base`; empty for the whole file. */
  path: string;
  message: string;
  location?: Location;
}

/** Formats a diagnostic as `file:line:column: path: message`. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.location ? `${d.location.file}:${d.location.line}:${d.location.column}: ` : "";
  const path = d.path ? `${d.path}: ` : "";
  return `${where}${path}${d.message}`;
}

/** A config that cannot be used; carries every error found (and the warnings). */
export class ConfigError extends Error {
  constructor(readonly file: string, readonly diagnostics: Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === "error");
    const first = errors[0] ?? diagnostics[0];
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more problem(s))` : "";
    super(`cannot load ${first ? formatDiagnostic(first) : file}${more}`);
    this.name = "ConfigError";
  }
}
