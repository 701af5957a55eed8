import type { ServerKind } from "../config/types.ts";

/** The local servers probed when nothing says otherwise, on loopback only (SPEC §7). */
export const DEFAULT_PORTS: readonly { kind: ServerKind; port: number }[] = [
  { kind: "ollama", port: 11434 },
  { kind: "vllm", port: 8000 },
  { kind: "lmstudio", port: 1234 },
  { kind: "llamacpp", port: 8080 },
];

/** The default targets as origins: `http://127.0.0.1:11434`, … */
export const DEFAULT_TARGETS: readonly string[] = DEFAULT_PORTS.map((d) =>
  `http://127.0.0.1:${d.port}`
);

/**
 * The origin (`http://host:port`) of a discovery target written as `host:port`, `:port`
 * (loopback) or an http(s) URL; undefined when it is none of those.
 */
export function parseTarget(text: string): string | undefined {
  const t = text.trim();
  const withScheme = /^https?:\/\//i.test(t)
    ? t
    : `http://${t.startsWith(":") ? "127.0.0.1" : ""}${t}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return undefined;
  }
  if (!url.hostname || (url.protocol !== "http:" && url.protocol !== "https:")) return undefined;
  // A bare host:port must name its port: probing port 80 of a host nobody meant is a surprise.
  if (!/^https?:\/\//i.test(t) && !url.port) return undefined;
  return url.origin;
}

/** What `BITROUTER_DISCOVERY` says: `off`, or the targets that replace the configured ones. */
export type DiscoveryOverride = { off: true } | { off: false; targets: string[] };

/**
 * Parses `BITROUTER_DISCOVERY`: `off` (or `0`, `false`, `none`) disables probing; otherwise a
 * comma-separated list of targets. Returns the text that did not parse as a string.
 */
export function parseDiscoveryEnv(value: string): DiscoveryOverride | string {
  const v = value.trim();
  if (/^(off|0|false|none|no)$/i.test(v)) return { off: true };
  const targets: string[] = [];
  for (const part of v.split(/[,\s]+/).filter(Boolean)) {
    const origin = parseTarget(part);
    if (!origin) return part;
    if (!targets.includes(origin)) targets.push(origin);
  }
  return { off: false, targets };
}

/** The kind a server on this origin probably is, from its port, before it is identified. */
export function kindByPort(origin: string): ServerKind | undefined {
  const port = Number(new URL(origin).port);
  return DEFAULT_PORTS.find((d) => d.port === port)?.kind;
}
