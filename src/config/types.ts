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

/** What kind of server answers at an address, as discovery identified it (`openai`: any other OpenAI-compatible one). */
export type ServerKind = "ollama" | "vllm" | "lmstudio" | "llamacpp" | "openai";

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
  /** The server kind, when discovery identified it. */
  kind?: ServerKind;
  /**
   * Why the provider is down right now (a failed probe or request); undefined when it is up.
   * A down provider gets no connection attempt until it answers a probe again (SPEC §7).
   */
  downReason?: string;
  /** Upstream model ids loaded in memory now (`all`: a server that only serves loaded models). */
  loaded?: readonly string[] | "all";
}

/** A `models:` entry: one name over an ordered chain of provider models. */
export interface VirtualModel {
  name: string;
  strategy: "priority" | "cascade";
  endpoints: { provider: string; model: string }[];
}

/** The `discovery:` block with defaults applied (SPEC §7). */
export interface DiscoverySettings {
  /** false: probe once at startup, never in the background. */
  enabled: boolean;
  intervalSecs: number;
  /**
   * Servers to probe, as origins (`http://127.0.0.1:11434`). Undefined: the four local default
   * ports in zero-config, none with a config file.
   */
  targets?: string[];
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
  /** How long a client may take to send its whole request body (slowloris); then 408. */
  bodyTimeoutSecs: number;
  /** On SIGTERM/SIGINT, how long running requests may finish before their streams are ended. */
  shutdownGraceSecs: number;
  /** Reload when the config file changes (SPEC §2.4), not only on SIGHUP. */
  watch: boolean;
  /** Host names a loopback listener answers besides loopback ones (DNS rebinding, SPEC §11). */
  allowedHosts: string[];
  /** Browser origins allowed to call the API (CORS, SPEC §11); empty: none. */
  corsOrigins: string[];
}

/** Log levels, most severe (quietest setting) first. */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;

/** Log verbosity: one of LOG_LEVELS. */
export type LogLevel = typeof LOG_LEVELS[number];

/** A loaded, validated configuration. */
export interface Config {
  /** The file it came from; undefined in zero-config. */
  file?: string;
  server: ServerSettings;
  providers: Provider[];
  virtualModels: VirtualModel[];
  health: HealthSettings;
  discovery: DiscoverySettings;
  /** `upstream.timeouts` with defaults applied: what discovered providers get. */
  upstreamTimeouts: Timeouts;
  /** `upstream.max_response_mb` and `upstream.max_event_mb`: for every provider, discovered too. */
  upstreamLimits: UpstreamLimits;
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

/**
 * How much of an upstream's answer BitRouter holds at once (SPEC §11), whatever the upstream
 * sends: past a limit the attempt fails instead of the process growing.
 */
export interface UpstreamLimits {
  /** The largest whole (non-streamed) answer read, counted after decompression. */
  maxResponseBytes: number;
  /** The largest line or event of a translated stream (SSE parsed to re-encode it). */
  maxEventBytes: number;
}

/** The `upstream:` block's limits by default: 64 MiB answers, 16 MiB events. */
export const DEFAULT_UPSTREAM_LIMITS: UpstreamLimits = {
  maxResponseBytes: 64 * 1024 * 1024,
  maxEventBytes: 16 * 1024 * 1024,
};

/** Defaults of the `discovery:` block. */
export const DEFAULT_DISCOVERY: DiscoverySettings = { enabled: true, intervalSecs: 15 };

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
  bodyTimeoutSecs: 30,
  shutdownGraceSecs: 30,
  watch: true,
  allowedHosts: [],
  corsOrigins: [],
};
