import { z } from "zod";
import { PROTOCOL_NAMES } from "./protocol.ts";
import { LOG_LEVELS, SYSTEM_MESSAGE_MODES } from "./types.ts";
import { normalizeOrigin, parseListen } from "./listen.ts";
import { parseTarget } from "../discovery/targets.ts";
import { isHeaderSafe } from "./header_value.ts";

/** A number, also when written as a quoted string such as "${TIMEOUT:-30}" (flow maps need quotes). */
const numeric = <T extends z.ZodType>(schema: T) =>
  z.preprocess(
    (v) => (typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v),
    schema,
  );

const seconds = numeric(
  z.number({ error: "expected a number of seconds" }).positive(
    "expected a positive number of seconds",
  ),
);

const httpUrl = z.string({ error: "expected a URL like http://localhost:11434/v1" }).refine(
  (s) => {
    try {
      const u = new URL(s);
      return u.protocol === "http:" || u.protocol === "https:";
    } catch {
      return false;
    }
  },
  { error: (iss) => `expected an http(s) URL, got ${JSON.stringify(iss.input)}` },
);

/** `upstream.timeouts` and a provider's `timeouts`. */
export const TimeoutsSchema = z.object({
  connect_secs: seconds.optional(),
  first_byte_secs: seconds.optional(),
  idle_secs: seconds.optional(),
  total_secs: seconds.nullable().optional(),
  queue_secs: numeric(
    z.number({ error: "expected a number of seconds" }).nonnegative(
      "expected 0 or more seconds",
    ),
  ).optional(),
});

/** A `max_concurrent`: how many requests may be in flight at once. */
const maxConcurrent = numeric(
  z.number({ error: "expected a whole number of requests" }).int(
    "expected a whole number of requests",
  ).positive("expected 1 or more requests"),
);

/** A `rate_limits` window (Rust BitRouter's shape). */
export const RateWindowSchema = z.object({
  requests_per_minute: maxConcurrent.optional(),
  tokens_per_minute: maxConcurrent.optional(),
});

/** `rate_limits`: a list of `{model-pattern: window}`. */
export const RateLimitsSchema = z.array(z.record(z.string(), RateWindowSchema), {
  error: 'expected a list like - "*": { requests_per_minute: 60 }',
});

/** One of a provider's `accounts`: a key and the label shown instead of it. */
export const AccountSchema = z.object({
  api_key: z.string(),
  label: z.string().optional(),
});

const protocolName = z.enum(Object.keys(PROTOCOL_NAMES) as [string, ...string[]], {
  error: (iss) =>
    `expected one of ${Object.keys(PROTOCOL_NAMES).join(", ")}, got ${JSON.stringify(iss.input)}`,
});

/** `api_protocol`: one protocol, a `{pattern: protocol}` map, or a list of such maps. */
export const ApiProtocolSchema = z.union([
  protocolName,
  z.record(z.string(), protocolName),
  z.array(z.record(z.string(), protocolName)),
], { error: "expected a protocol name or a list of {model-pattern: protocol}" });

const microUsd = numeric(
  z.number({ error: "expected micro-USD per token (USD per million tokens)" }).nonnegative(
    "expected micro-USD per token, 0 or more",
  ),
);

/** The prices of one `pricing` block or context tier, in micro-USD per token. */
const priceFields = {
  input_micro_usd_per_token: microUsd.optional(),
  output_micro_usd_per_token: microUsd.optional(),
  cache_read_micro_usd_per_token: microUsd.optional(),
  cache_write_micro_usd_per_token: microUsd.optional(),
};

/** A model's `pricing` (Rust BitRouter's shape); `context_tiers` apply above an input size. */
export const PricingSchema = z.object({
  ...priceFields,
  context_tiers: z.array(z.object({
    above_input_tokens: numeric(
      z.number({ error: "expected a number of input tokens" }).int().nonnegative(),
    ),
    ...priceFields,
  })).optional(),
});

/** One entry of a provider's `models`: an id, or `{id, provider_model_id}`. */
export const ModelEntrySchema = z.union([
  z.string(),
  z.object({
    id: z.string(),
    provider_model_id: z.string().optional(),
    max_concurrent: maxConcurrent.optional(),
    pricing: PricingSchema.optional(),
  }),
], { error: "expected a model id or {id: ..., provider_model_id: ...}" });

/** Text fetch can send as a header value (a key, an extra header); the message never shows it. */
const headerSafe = (what: string) =>
  z.string().refine(
    isHeaderSafe,
    `expected ${what} that can be sent in an HTTP header; this one holds a line break, another control character or a character beyond U+00FF (not shown: it may be a key)`,
  );

/** `compatibility.chat_completions`: how BitRouter meets a Chat Completions server's quirks. */
export const ChatCompatibilitySchema = z.object({
  system_messages: z.enum(SYSTEM_MESSAGE_MODES).optional(),
  /** false: never send `stream_options` (servers that reject it). */
  supports_stream_options: z.boolean().optional(),
});

/** A provider's `compatibility:` block. */
export const CompatibilitySchema = z.object({
  chat_completions: ChatCompatibilitySchema.optional(),
});

/** One provider under `providers:`. */
export const ProviderSchema = z.object({
  api_base: httpUrl.optional(),
  api_key: headerSafe("a key").optional(),
  api_protocol: ApiProtocolSchema.optional(),
  models: z.array(ModelEntrySchema).optional(),
  active: z.boolean().optional(),
  priority: numeric(z.number().int()).optional(),
  headers: z.record(z.string(), headerSafe("a value")).optional(),
  timeouts: TimeoutsSchema.optional(),
  auto_discover: z.boolean().optional(),
  compatibility: CompatibilitySchema.optional(),
  local: z.boolean().optional(),
  max_concurrent: maxConcurrent.optional(),
  rate_limits: RateLimitsSchema.optional(),
  accounts: z.array(AccountSchema).optional(),
  account_strategy: z.enum(["failover", "balance"]).optional(),
});

/** One endpoint of a virtual model; `model:` is accepted for `service_id`. */
export const EndpointSchema = z.object({
  provider: z.string(),
  service_id: z.string().optional(),
  model: z.string().optional(),
  pricing: PricingSchema.optional(),
});

/** A virtual model under `models:`. */
export const VirtualModelSchema = z.object({
  strategy: z.enum(["priority", "cascade", "balance"]).optional(),
  endpoints: z.array(EndpointSchema).min(1, "expected at least one endpoint"),
});

/** A `server.allowed_hosts` entry: a host name or address without port, `*.suffix`, or `*`. */
const HostPattern = z.string().refine(
  (s) => /^(\*|(\*\.)?[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])$/.test(s.trim()),
  {
    error: (iss) =>
      `expected a host name without scheme or port (like bitrouter.lan or *.lan), got ${
        JSON.stringify(iss.input)
      }`,
  },
);

/** A `server.cors_origins` entry: an origin `scheme://host[:port]`, or `*` for any. */
const OriginPattern = z.string().refine(
  (s) => s.trim() === "*" || normalizeOrigin(s) !== undefined,
  {
    error: (iss) =>
      `expected an origin like http://localhost:3000 (scheme, host and port only), got ${
        JSON.stringify(iss.input)
      }`,
  },
);

/** The `server:` block. */
export const ServerSchema = z.object({
  listen: z.string().refine((s) => parseListen(s) !== undefined, {
    error: (iss) => `expected host:port like 127.0.0.1:4356, got ${JSON.stringify(iss.input)}`,
  }).optional(),
  skip_auth: z.boolean().optional(),
  api_keys: z.array(z.string()).optional(),
  allow_open: z.boolean().optional(),
  log_level: z.enum(LOG_LEVELS).optional(),
  max_body_mb: numeric(z.number().positive()).optional(),
  shutdown_grace_secs: numeric(z.number().nonnegative()).optional(),
  watch: z.boolean().optional(),
  body_timeout_secs: seconds.optional(),
  allowed_hosts: z.array(HostPattern).optional(),
  cors_origins: z.array(OriginPattern).optional(),
  metrics_public: z.boolean().optional(),
});

/** The `health:` block. */
export const HealthSchema = z.object({
  failures: numeric(z.number().int().positive("expected a whole number of failures, 1 or more"))
    .optional(),
  cooldown_secs: seconds.optional(),
  max_retry_after_secs: seconds.optional(),
});

/** A discovery target: `host:port` or an http(s) URL (its path, if any, is ignored). */
export const TargetSchema = z.string().refine((s) => parseTarget(s) !== undefined, {
  error: (iss) =>
    `expected host:port like 127.0.0.1:11434 or a URL, got ${JSON.stringify(iss.input)}`,
});

/** The `discovery:` block (SPEC §7). */
export const DiscoverySchema = z.object({
  enabled: z.boolean().optional(),
  interval_secs: seconds.optional(),
  targets: z.array(TargetSchema).optional(),
});

const mebibytes = numeric(
  z.number({ error: "expected a number of MiB" }).positive("expected a positive number of MiB"),
);

/** The `upstream:` block: what every provider gets unless it says otherwise, and memory limits. */
export const UpstreamSchema = z.object({
  timeouts: TimeoutsSchema.optional(),
  max_response_mb: mebibytes.optional(),
  max_event_mb: mebibytes.optional(),
  cascade_strategy: z.enum(["priority", "balance"]).optional(),
});

/** The `responses:` block: stored responses (SPEC §6). */
export const ResponsesSchema = z.object({
  store_ttl_secs: seconds.optional(),
});

/** The `database:` block (Rust BitRouter's key): where the usage store lives. */
export const DatabaseSchema = z.object({
  url: z.string().refine((s) => /^(sqlite:|postgres(ql)?:\/\/)/.test(s.trim()), {
    error: (iss) =>
      `expected sqlite://PATH (relative to the config file) or sqlite:///ABSOLUTE/PATH, got ${
        JSON.stringify(iss.input)
      }`,
  }).optional(),
});

/** The `usage:` block, or `usage: false` to keep no usage store. */
export const UsageSchema = z.union([
  z.boolean(),
  z.object({
    enabled: z.boolean().optional(),
    retention_days: numeric(
      z.number({ error: "expected a number of days" }).positive(
        "expected a positive number of days",
      ),
    ).optional(),
    reference_model: z.string().optional(),
  }),
], { error: "expected false, or {retention_days: 90, reference_model: gpt-4o-mini}" });

/** The whole file. Unknown keys are stripped here and reported as warnings by the loader. */
export const FileSchema = z.object({
  server: ServerSchema.nullable().optional(),
  health: HealthSchema.nullable().optional(),
  upstream: UpstreamSchema.nullable().optional(),
  providers: z.record(z.string(), ProviderSchema.nullable()).nullable().optional(),
  models: z.record(z.string(), VirtualModelSchema).nullable().optional(),
  discovery: DiscoverySchema.nullable().optional(),
  responses: ResponsesSchema.nullable().optional(),
  database: DatabaseSchema.nullable().optional(),
  usage: UsageSchema.nullable().optional(),
});

/** The file as written, after validation. */
export type RawConfig = z.infer<typeof FileSchema>;
/** A `pricing` block as written. */
export type RawPricing = z.infer<typeof PricingSchema>;
/** The prices of a `pricing` block or one of its tiers. */
export type RawPrices = Omit<RawPricing, "context_tiers">;
/** One provider as written. */
export type RawProvider = z.infer<typeof ProviderSchema>;
/** Timeouts as written. */
export type RawTimeouts = z.infer<typeof TimeoutsSchema>;
