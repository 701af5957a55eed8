import { CATALOG } from "./catalog.ts";
import { DEFAULT_TIMEOUTS, modelsAsNamed, type Provider } from "../config/types.ts";
import type { DetectedServer } from "../config/template.ts";

/** A local model server found answering on its default port. */
export type FoundServer = DetectedServer;

/** The local servers probed in zero-config, on loopback only (SPEC §7). */
export const LOCAL_SERVERS: readonly { id: string; port: number }[] = [
  { id: "ollama", port: 11434 },
  { id: "vllm", port: 8000 },
  { id: "lmstudio", port: 1234 },
  { id: "llamacpp", port: 8080 },
];

/** Asks each local server's `GET /v1/models` in parallel; a server that does not answer within `timeoutMs` is absent. */
export async function probeLocalServers(
  fetchFn: typeof fetch,
  timeoutMs = 800,
  servers = LOCAL_SERVERS.map((s) => ({ id: s.id, apiBase: `http://127.0.0.1:${s.port}/v1` })),
): Promise<FoundServer[]> {
  const found = await Promise.all(servers.map(async (s): Promise<FoundServer | undefined> => {
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const res = await fetchFn(`${s.apiBase}/models`, { signal });
      if (!res.ok) {
        await res.body?.cancel();
        return undefined;
      }
      const json = await res.json() as { data?: { id?: unknown }[] };
      const models = (json.data ?? []).map((m) => m.id).filter((id): id is string =>
        typeof id === "string"
      );
      return { ...s, models };
    } catch {
      return undefined;
    }
  }));
  return found.filter((f): f is FoundServer => f !== undefined);
}

/** Providers for zero-config: the local servers found, then each hosted built-in whose key variable is set. */
export function zeroConfigProviders(
  found: FoundServer[],
  env: (name: string) => string | undefined,
): Provider[] {
  const base = {
    protocolRules: [],
    priority: 0,
    headers: {},
    timeouts: { ...DEFAULT_TIMEOUTS },
    autoDiscover: true,
  };
  const local: Provider[] = found.map((f) => ({
    ...base,
    id: f.id,
    apiBase: f.apiBase,
    defaultProtocol: "chat_completions",
    models: modelsAsNamed(f.models),
    order: 0,
    source: "detected",
  }));
  const hosted: Provider[] = Object.entries(CATALOG).flatMap(([id, entry]) => {
    const key = entry.keyVar ? env(entry.keyVar) : undefined;
    if (!entry.keyVar || !key) return [];
    return [{
      ...base,
      id,
      apiBase: entry.apiBase,
      apiKey: key,
      keyVar: entry.keyVar,
      defaultProtocol: entry.protocol,
      models: modelsAsNamed(entry.models),
      order: 0,
      autoDiscover: false,
      source: "built-in",
    }];
  });
  return [...local, ...hosted].map((p, order) => ({ ...p, order }));
}
