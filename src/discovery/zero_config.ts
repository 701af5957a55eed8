import { CATALOG } from "./catalog.ts";
import { DEFAULT_TIMEOUTS, modelsAsNamed, type Provider } from "../config/types.ts";
import { isHeaderSafe, unsendableKeyReason } from "../config/header_value.ts";

/**
 * The hosted built-ins for zero-config: each one active when its key variable is set, and
 * listed inactive (`OPENAI_API_KEY unset`) otherwise, so `bitrouter providers` shows what to set.
 */
export function hostedBuiltIns(env: (name: string) => string | undefined): Provider[] {
  return Object.entries(CATALOG).flatMap(([id, entry], order): Provider[] => {
    if (!entry.keyVar) return [];
    const value = env(entry.keyVar) || undefined;
    const sendable = value === undefined || isHeaderSafe(value);
    const key = sendable ? value : undefined;
    return [{
      id,
      apiBase: entry.apiBase,
      apiKey: key,
      keyVar: entry.keyVar,
      inactiveReason: key
        ? undefined
        : sendable
        ? `${entry.keyVar} unset`
        : unsendableKeyReason(entry.keyVar),
      protocolRules: [],
      defaultProtocol: entry.protocol,
      models: modelsAsNamed(entry.models),
      priority: 0,
      order,
      headers: {},
      timeouts: { ...DEFAULT_TIMEOUTS },
      autoDiscover: false,
      source: "built-in",
    }];
  });
}
