import type { Diagnostic } from "./errors.ts";
import type { Protocol, ProtocolRule } from "./protocol.ts";

/** Upstream time limits in seconds (SPEC §2.3); `totalSecs: null` means no limit. */
export interface Timeouts {
  connectSecs: number;
  firstByteSecs: number;
  idleSecs: number;
  totalSecs: number | null;
  /** The longest a request waits for a free slot when every candidate is busy (SPEC §3.5). */
  queueSecs: number;
}

/** One `rate_limits` window of a provider: a model pattern and its per-minute budgets. */
export interface RateLimit {
  /** `*`, `prefix*` or an exact upstream model id. */
  pattern: string;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}

/** One of a provider's `accounts`: its key, and the label shown instead of it. */
export interface Account {
  apiKey: string;
  label: string;
}

/** A model a provider serves: the id clients use and the id sent upstream. */
export interface ModelAlias {
  id: string;
  upstreamId: string;
  /** Its `pricing`, when the config gives one. */
  pricing?: Pricing;
}

/** Prices in micro-USD per token (= USD per million tokens); absent: not priced. */
export interface Prices {
  input?: number;
  output?: number;
  cacheRead?: number;
  cacheWrite?: number;
}

/** A model's `pricing` (Rust BitRouter's shape): base prices, and tiers above an input size. */
export interface Pricing extends Prices {
  /** Each tier's prices replace the base's when the input is over `aboveInputTokens`. */
  contextTiers: (Prices & { aboveInputTokens: number })[];
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
  /** `local: true|false` as written: overrides what the address says (see observe/locality.ts). */
  local?: boolean;
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
  /** `compatibility.chat_completions`, defaults applied; absent on detected providers (defaults). */
  chatCompatibility?: ChatCompatibility;
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
  /** `max_concurrent`: requests in flight at once to this server (SPEC §3.5). */
  maxConcurrent?: number;
  /** What the server reports it can run at once (llama.cpp's `total_slots`); below `maxConcurrent`. */
  reportedSlots?: number;
  /** Per-model `max_concurrent`, by upstream model id. */
  modelMaxConcurrent?: Record<string, number>;
  /** `rate_limits`, most specific pattern first. */
  rateLimits?: RateLimit[];
  /** `accounts`: one endpoint per key (SPEC §3.5). */
  accounts?: Account[];
  accountStrategy?: "failover" | "balance";
  /** The label of the account this endpoint uses, on the per-account copies resolution makes. */
  account?: string;
}

/** Whether anything limits the provider's capacity, so requests to it take a slot. */
export function isLimited(p: Provider): boolean {
  return p.maxConcurrent !== undefined || p.reportedSlots !== undefined ||
    p.modelMaxConcurrent !== undefined || p.rateLimits !== undefined;
}

/** What a translated request to a chat upstream does with a system message after the first turn. */
export type SystemMessageMode = "merge" | "user" | "keep";

/** The values `compatibility.chat_completions.system_messages` takes; the first is the default. */
export const SYSTEM_MESSAGE_MODES = ["merge", "user", "keep"] as const;

/** `compatibility.chat_completions`: how a Chat Completions provider's quirks are met. */
export interface ChatCompatibility {
  /** Where a mid-conversation system message goes (see protocols/chat/system_messages.ts). */
  systemMessages: SystemMessageMode;
  /** false: `stream_options` is never sent (`supports_stream_options`); absent: true. */
  supportsStreamOptions?: boolean;
}

/** A `models:` entry: one name over an ordered chain of provider models. */
export interface VirtualModel {
  name: string;
  strategy: "priority" | "cascade" | "balance";
  endpoints: { provider: string; model: string; pricing?: Pricing }[];
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
  /** `/metrics` answers without a key (`server.metrics_public`); absent: false. */
  metricsPublic?: boolean;
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
  /** `upstream.cascade_strategy`: `balance` spreads a bare-name cascade like a balanced virtual model. */
  cascadeStrategy: "priority" | "balance";
  /** The `responses:` block; absent: DEFAULT_RESPONSES. */
  responses?: ResponsesSettings;
  /** The `usage:` and `database:` blocks; absent: DEFAULT_USAGE. */
  usage?: UsageSettings;
  warnings: Diagnostic[];
}

/** The usage store (SPEC §8): `usage:` and `database.url`. */
export interface UsageSettings {
  /** `usage: false` keeps no store. */
  enabled: boolean;
  /** `database.url` as written; absent: `sqlite://bitrouter.db` beside the config file. */
  databaseUrl?: string;
  /** Rows older than this are pruned. */
  retentionDays: number;
  /** What local tokens are priced at when no hosted endpoint of the same virtual model is. */
  referenceModel: string;
}

/** The usage store's defaults: on, 90 days, local compared against gpt-4o-mini. */
export const DEFAULT_USAGE: UsageSettings = {
  enabled: true,
  retentionDays: 90,
  referenceModel: "gpt-4o-mini",
};

/** The `responses:` block: how long BitRouter keeps the responses it stores. */
export interface ResponsesSettings {
  storeTtlSecs: number;
}

/** An hour, as OpenAI's clients expect a chain of turns to last at least. */
export const DEFAULT_RESPONSES: ResponsesSettings = { storeTtlSecs: 3600 };

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
  queueSecs: 30,
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
