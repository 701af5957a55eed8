import type { Diagnostic } from "./errors.ts";
import type { Protocol, ProtocolRule } from "./protocol.ts";

/** Upstream time limits in seconds (SPEC §2.3); `totalSecs: null` means no limit. */
export interface Timeouts {
  connectSecs: number;
  firstByteSecs: number;
  idleSecs: number;
  totalSecs: number | null;
}

/** A model a provider serves: the id clients use and the id sent upstream. */
export interface ModelAlias {
  id: string;
  upstreamId: string;
}

/** Models offered under the ids the server itself uses. */
export function modelsAsNamed(ids: readonly string[]): ModelAlias[] {
  return ids.map((id) => ({ id, upstreamId: id }));
}

/** Where a provider's definition came from. */
export type ProviderSource = "config" | "detected" | "built-in";

/** One upstream server, fully resolved: defaults applied, key looked up. */
export interface Provider {
  id: string;
  apiBase: string;
  apiKey?: string;
  /** The variable the key comes from, for messages (`OPENAI_API_KEY unset`). */
  keyVar?: string;
  /** Why the provider cannot be used; undefined when it is active. */
  inactiveReason?: string;
  protocolRules: ProtocolRule[];
  defaultProtocol: Protocol;
  models: ModelAlias[];
  priority: number;
  /** Position in the file, the tie-breaker after priority. */
  order: number;
  headers: Record<string, string>;
  timeouts: Timeouts;
  autoDiscover: boolean;
  source: ProviderSource;
}

/** A `models:` entry: one name over an ordered chain of provider models. */
export interface VirtualModel {
  name: string;
  strategy: "priority" | "cascade";
  endpoints: { provider: string; model: string }[];
}

/** The `server:` block with defaults applied. */
export interface ServerSettings {
  hostname: string;
  port: number;
  skipAuth: boolean;
  apiKeys: string[];
  allowOpen: boolean;
  logLevel: LogLevel;
  maxBodyBytes: number;
  shutdownGraceSecs: number;
}

/** Log verbosity, most severe first. */
export type LogLevel = "error" | "warn" | "info" | "debug";

/** A loaded, validated configuration. */
export interface Config {
  /** The file it came from; undefined in zero-config. */
  file?: string;
  server: ServerSettings;
  providers: Provider[];
  virtualModels: VirtualModel[];
  health: HealthSettings;
  warnings: Diagnostic[];
}

/** The `health:` block: when an endpoint is cooled down (issue "Reliability"). */
export interface HealthSettings {
  /** Consecutive failures that cool an endpoint down. */
  failures: number;
  cooldownSecs: number;
  /** The longest a `Retry-After` may cool an endpoint. */
  maxRetryAfterSecs: number;
}

/** The `health:` block's defaults. */
export const DEFAULT_HEALTH: HealthSettings = {
  failures: 3,
  cooldownSecs: 30,
  maxRetryAfterSecs: 300,
};

/** Defaults of SPEC §2.3. */
export const DEFAULT_TIMEOUTS: Timeouts = {
  connectSecs: 10,
  firstByteSecs: 300,
  idleSecs: 120,
  totalSecs: null,
};

/** Where BitRouter listens when nothing says otherwise. */
export const DEFAULT_LISTEN = { hostname: "127.0.0.1", port: 4356 };

/** The `server:` block's defaults. */
export const DEFAULT_SERVER: ServerSettings = {
  ...DEFAULT_LISTEN,
  skipAuth: true,
  apiKeys: [],
  allowOpen: false,
  logLevel: "info",
  maxBodyBytes: 32 * 1024 * 1024,
  shutdownGraceSecs: 30,
};
