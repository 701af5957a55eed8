import YAML, { isMap, isPair, isScalar, isSeq, LineCounter, type Node } from "yaml";
import type { z } from "zod";
import { ConfigError, type Diagnostic } from "./errors.ts";
import { interpolate } from "./interpolate.ts";
import {
  FileSchema,
  type RawConfig,
  type RawPrices,
  type RawPricing,
  type RawProvider,
  type RawTimeouts,
} from "./schema.ts";
import { normalizeOrigin, parseListen } from "./listen.ts";
import {
  inferProtocol,
  type Protocol,
  PROTOCOL_NAMES,
  type ProtocolRule,
  sortRules,
} from "./protocol.ts";
import {
  type Account,
  type Config,
  DEFAULT_DISCOVERY,
  DEFAULT_HEALTH,
  DEFAULT_RESPONSES,
  DEFAULT_SERVER,
  DEFAULT_TIMEOUTS,
  DEFAULT_UPSTREAM_LIMITS,
  DEFAULT_USAGE,
  modelsAsNamed,
  type Prices,
  type Pricing,
  type Provider,
  SYSTEM_MESSAGE_MODES,
  type Timeouts,
  type UsageSettings,
  type VirtualModel,
} from "./types.ts";
import { CATALOG, catalogEntry } from "../discovery/catalog.ts";
import { suggest } from "./suggest.ts";
import { parseTarget } from "../discovery/targets.ts";
import { isHeaderSafe, unsendableKeyReason } from "./header_value.ts";

/** How to load: where variables come from, and whether unset ones are errors. */
export interface LoadOptions {
  env: (name: string) => string | undefined;
  /** `config validate`: unset `${VAR}`s are warnings, not errors. */
  lenientEnv?: boolean;
}

type Path = (string | number)[];

/** Reads, interpolates and validates a config file; throws ConfigError listing every problem. */
export async function loadConfigFile(file: string, options: LoadOptions): Promise<Config> {
  return parseConfig(await readConfigText(file), file, options);
}

/** The text of a config file; a file that cannot be read is a ConfigError saying why. */
export async function readConfigText(file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new ConfigError(file, [{ severity: "error", path: "", message: why }]);
  }
}

/** Validates config text as if read from `file` (used by tests and `init`). */
export function parseConfig(text: string, file: string, options: LoadOptions): Config {
  const lines = new LineCounter();
  const doc = YAML.parseDocument(maskReferences(text), { lineCounter: lines, prettyErrors: false });
  const diagnostics: Diagnostic[] = [];
  const at = (offset: number | undefined) => {
    if (offset === undefined) return undefined;
    const pos = lines.linePos(offset);
    return { file, line: pos.line, column: pos.col };
  };
  // The first YAML error is the real one; those after it are usually its echoes.
  for (const e of doc.errors.slice(0, 1)) {
    diagnostics.push({
      severity: "error",
      path: "",
      message: `invalid YAML: ${e.message.split("\n")[0]}`,
      location: at(e.pos[0]),
    });
  }
  if (diagnostics.length) throw new ConfigError(file, diagnostics);

  const unsetKeys = new Map<string, string>();
  /** `provider.index` of accounts whose key variable is unset → the variable. */
  const unsetAccounts = new Map<string, string>();
  /** Paths whose value came from an unset variable; in lenient mode their type errors are moot. */
  const unsetPaths = new Set<string>();
  substituteScalars(doc.contents, [], (path, node, unset) => {
    unsetPaths.add(path.join("."));
    const isApiKey = path.length === 3 && path[0] === "providers" && path[2] === "api_key";
    // An account's key unset leaves that account out, like an unset api_key (SPEC §2.2).
    const isAccountKey = path.length === 5 && path[0] === "providers" &&
      path[2] === "accounts" && path[4] === "api_key";
    for (const u of unset) {
      if (isApiKey) {
        unsetKeys.set(String(path[1]), u.name);
        continue;
      }
      if (isAccountKey) {
        unsetAccounts.set(`${path[1]}.${path[3]}`, u.name);
        continue;
      }
      diagnostics.push({
        severity: options.lenientEnv ? "warning" : "error",
        path: path.join("."),
        message:
          `environment variable ${u.name} is unset (export it, or write \${${u.name}:-default})`,
        location: at((node.range?.[0] ?? 0) + u.offset),
      });
    }
  }, options.env);

  let data: unknown;
  try {
    data = doc.toJS() ?? {};
  } catch (e) {
    diagnostics.push(unreadableDocument(doc, e, at));
    throw new ConfigError(file, diagnostics);
  }
  const locate = (path: Path) => at(nodeAt(doc.contents, path)?.range?.[0]);
  if (typeof data !== "object" || Array.isArray(data)) {
    diagnostics.push({
      severity: "error",
      path: "",
      message: "expected a mapping with server, providers and models",
      location: at(0),
    });
    throw new ConfigError(file, diagnostics);
  }
  const parsed = FileSchema.safeParse(data);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (options.lenientEnv && unsetPaths.has(issue.path.join("."))) continue;
      diagnostics.push({
        severity: "error",
        path: issue.path.join("."),
        message: describeIssue(
          issue,
          valueAt(data, issue.path as Path),
          isSecretPath(issue.path as Path),
        ),
        location: locate(issue.path as Path),
      });
    }
  }
  warnUnknownKeys(data, FileSchema, [], diagnostics, (path) => at(keyNodeAt(doc.contents, path)));
  if (!parsed.success) {
    if (diagnostics.some((d) => d.severity === "error")) throw new ConfigError(file, diagnostics);
    return { ...zeroConfig(), file, warnings: diagnostics };
  }

  const config = buildConfig(
    parsed.data ?? {},
    file,
    options,
    { keys: unsetKeys, accounts: unsetAccounts },
    diagnostics,
    locate,
  );
  if (diagnostics.some((d) => d.severity === "error")) throw new ConfigError(file, diagnostics);
  return config;
}

/** The config used when no file exists: defaults only; discovery adds providers. */
export function zeroConfig(): Config {
  return {
    server: { ...DEFAULT_SERVER },
    providers: [],
    virtualModels: [],
    health: { ...DEFAULT_HEALTH },
    discovery: { ...DEFAULT_DISCOVERY },
    upstreamTimeouts: { ...DEFAULT_TIMEOUTS },
    upstreamLimits: { ...DEFAULT_UPSTREAM_LIMITS },
    cascadeStrategy: "priority",
    warnings: [],
  };
}

/**
 * Why a parsed document has no value: an alias naming no anchor (`api_key: *abc`, not quoted,
 * whose name may be a key and so is not repeated), or too many aliases.
 */
function unreadableDocument(
  doc: YAML.Document,
  e: unknown,
  at: (offset: number | undefined) => Diagnostic["location"],
): Diagnostic {
  let unresolved: YAML.Alias | undefined;
  YAML.visit(doc, {
    Alias(_key, node) {
      if (node.resolve(doc)) return;
      unresolved = node;
      return YAML.visit.BREAK;
    },
  });
  return {
    severity: "error",
    path: "",
    message: unresolved
      ? "invalid YAML: a value starting with * is an alias of an anchor that is not defined; quote the value if it is text"
      : `invalid YAML: ${(e as Error).message}`,
    location: at(unresolved?.range?.[0]),
  };
}

type OnUnset = (path: Path, node: YAML.Scalar, unset: { name: string; offset: number }[]) => void;

/**
 * Substitutes `${VAR}`s in every scalar, and turns a key that YAML read as a number or boolean
 * back into its text as written.
 */
function substituteScalars(
  node: unknown,
  path: Path,
  onUnset: OnUnset,
  env: LoadOptions["env"],
): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      substituteScalars(pair.value, [...path, key], onUnset, env);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => substituteScalars(item, [...path, i], onUnset, env));
  } else if (isScalar(node) && typeof node.value === "string") {
    const result = interpolate(unmaskReferences(node.value), env);
    if (!result.changed) return;
    if (result.unset.length) onUnset(path, node, result.unset);
    // A key is text whatever it looks like: a `${KEY}` set to digits is not a number.
    node.value = node.type === "PLAIN" && !isKeyPath(path)
      ? plainScalar(result.value)
      : result.value;
  } else if (isScalar(node) && isKeyPath(path) && isTextLike(node.value)) {
    // `api_key: 0123` or a 20-digit key: the text as written, not the number YAML made of it
    // (123, or a rounded float), which would also fail validation and be printed.
    node.value = node.source ?? String(node.value);
  }
}

/**
 * Whether the value at this path is a key (SPEC §11), a string whatever it looks like:
 * `providers.*.api_key`, an entry of `server.api_keys`, and any later block's `api_key`.
 */
function isKeyPath(path: Path): boolean {
  return path[path.length - 1] === "api_key" ||
    (path.length === 3 && path[0] === "server" && path[1] === "api_keys");
}

/**
 * Whether a value at this path is never shown in a message: keys, key lists, accounts, a
 * provider's extra headers (which may carry a credential, e.g. Azure's `api-key`), and a provider
 * written as a bare value.
 */
function isSecretPath(path: Path): boolean {
  return isKeyPath(path) || path.includes("api_keys") || path.includes("accounts") ||
    (path[0] === "providers" && path[2] === "headers") ||
    // `providers: { openai: sk-… }`: a key written where the provider's block belongs.
    (path[0] === "providers" && path.length === 2);
}

function isTextLike(v: unknown): boolean {
  return typeof v === "number" || typeof v === "bigint" || typeof v === "boolean";
}

/**
 * Hides the braces of `${VAR}` references from the YAML parser, so `api_keys: [${KEY}]` is a
 * list holding a reference rather than a broken flow mapping. Each brace becomes one
 * private-use character, so every offset (and so every line:column) stays the same.
 */
function maskReferences(text: string): string {
  return text.replace(REFERENCE_IN_TEXT, (_m, inner: string) => `$\uE000${inner}\uE001`);
}

/** Undoes maskReferences inside one scalar. */
function unmaskReferences(text: string): string {
  return text.includes("\uE000") ? text.replaceAll("\uE000", "{").replaceAll("\uE001", "}") : text;
}

const REFERENCE_IN_TEXT = /\$\{([A-Za-z_][A-Za-z0-9_]*(?::-[^}\n]*)?)\}/g;

/** An unquoted `${PORT}` that expands to `8080` is a number, as if written so. */
function plainScalar(text: string): unknown {
  if (text === "") return text;
  try {
    const v: unknown = YAML.parse(text);
    return typeof v === "number" || typeof v === "boolean" ? v : text;
  } catch {
    return text;
  }
}

function nodeAt(root: unknown, path: Path): Node | undefined {
  let node = root;
  let last: Node | undefined = isNode(root) ? root : undefined;
  for (const key of path) {
    if (isMap(node)) node = node.items.find((p) => keyOf(p.key) === String(key))?.value;
    else if (isSeq(node)) node = node.items[Number(key)];
    else break;
    if (!isNode(node)) break;
    last = node;
  }
  return last;
}

function keyNodeAt(root: unknown, path: Path): number | undefined {
  const parent = nodeAt(root, path.slice(0, -1));
  if (!isMap(parent)) return parent?.range?.[0];
  const pair = parent.items.find((p) => keyOf(p.key) === String(path[path.length - 1]));
  return isPair(pair) && isNode(pair.key) ? pair.key.range?.[0] : parent.range?.[0];
}

function isNode(x: unknown): x is Node {
  return isMap(x) || isSeq(x) || isScalar(x);
}

function keyOf(k: unknown): string {
  return isScalar(k) ? String(k.value) : String(k);
}

function valueAt(data: unknown, path: Path): unknown {
  let v = data;
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/** What a value is, for a message; a secret's kind only, never its text. */
function describeValue(v: unknown, secret: boolean): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (secret) return `a ${typeof v} (not shown: it may be a key)`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

function describeIssue(issue: z.core.$ZodIssue, value: unknown, secret: boolean): string {
  switch (issue.code) {
    case "invalid_type":
      if (value === undefined) return `required: expected ${issue.expected}`;
      return `expected ${issue.expected}, got ${describeValue(value, secret)}`;
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${
        describeValue(value, secret)
      }`;
    default: {
      // A schema's own message may quote the value; at a secret's path it is cut out.
      const text = isTextLike(value) || typeof value === "string" ? String(value) : "";
      return secret && text ? issue.message.replaceAll(text, "[not shown]") : issue.message;
    }
  }
}

/** Walks the data beside its schema and warns about keys the schema does not know. */
function warnUnknownKeys(
  data: unknown,
  schema: z.core.$ZodType,
  path: Path,
  out: Diagnostic[],
  at: (path: Path) => Diagnostic["location"],
): void {
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  switch (def.type) {
    case "optional":
    case "nullable":
    case "default":
      return warnUnknownKeys(data, def.innerType as z.core.$ZodType, path, out, at);
    case "union":
      for (const option of def.options as z.core.$ZodType[]) {
        if (option._zod.def.type === "object" && data && typeof data === "object") {
          return warnUnknownKeys(data, option, path, out, at);
        }
      }
      return;
    case "array":
      if (Array.isArray(data)) {
        data.forEach((item, i) =>
          warnUnknownKeys(item, def.element as z.core.$ZodType, [...path, i], out, at)
        );
      }
      return;
    case "record":
      if (data && typeof data === "object" && !Array.isArray(data)) {
        for (const [k, v] of Object.entries(data)) {
          warnUnknownKeys(v, def.valueType as z.core.$ZodType, [...path, k], out, at);
        }
      }
      return;
    case "object": {
      if (!data || typeof data !== "object" || Array.isArray(data)) return;
      const shape = def.shape as Record<string, z.core.$ZodType>;
      const known = Object.keys(shape);
      for (const [k, v] of Object.entries(data)) {
        if (Object.hasOwn(shape, k)) {
          warnUnknownKeys(v, shape[k], [...path, k], out, at);
          continue;
        }
        const hint = suggest(k, known);
        out.push({
          severity: "warning",
          path: [...path, k].join("."),
          message: `unknown key, ignored${hint ? ` (did you mean "${hint}"?)` : ""}`,
          location: at([...path, k]),
        });
      }
    }
  }
}

/** `pricing` as written, in the config's own terms. */
function pricingOf(raw: RawPricing): Pricing {
  const prices = (p: RawPrices): Prices => ({
    input: p.input_micro_usd_per_token,
    output: p.output_micro_usd_per_token,
    cacheRead: p.cache_read_micro_usd_per_token,
    cacheWrite: p.cache_write_micro_usd_per_token,
  });
  return {
    ...prices(raw),
    contextTiers: (raw.context_tiers ?? [])
      .map((t) => ({ ...prices(t), aboveInputTokens: t.above_input_tokens }))
      .sort((a, b) => a.aboveInputTokens - b.aboveInputTokens),
  };
}

/** The `usage:` and `database:` blocks with defaults applied. */
function usageOf(raw: NonNullable<RawConfig>): UsageSettings {
  const u = raw.usage;
  const block = typeof u === "object" && u !== null ? u : {};
  return {
    enabled: u !== false && (typeof u !== "object" || u === null || u.enabled !== false),
    databaseUrl: raw.database?.url?.trim(),
    retentionDays: block.retention_days ?? DEFAULT_USAGE.retentionDays,
    referenceModel: block.reference_model ?? DEFAULT_USAGE.referenceModel,
  };
}

function timeoutsOf(raw: RawTimeouts | undefined, base: Timeouts): Timeouts {
  return {
    connectSecs: raw?.connect_secs ?? base.connectSecs,
    firstByteSecs: raw?.first_byte_secs ?? base.firstByteSecs,
    idleSecs: raw?.idle_secs ?? base.idleSecs,
    totalSecs: raw?.total_secs === undefined ? base.totalSecs : raw.total_secs,
    queueSecs: raw?.queue_secs ?? base.queueSecs,
  };
}

/** A size written in MiB, as bytes; the default when not written. */
function mebibytesOr(mb: number | undefined, bytes: number): number {
  return mb === undefined ? bytes : Math.floor(mb * 1024 * 1024);
}

function protocolRules(raw: RawProvider["api_protocol"]): ProtocolRule[] {
  if (raw === undefined) return [];
  if (typeof raw === "string") return [{ pattern: "*", protocol: PROTOCOL_NAMES[raw] }];
  const maps = Array.isArray(raw) ? raw : [raw];
  return sortRules(
    maps.flatMap((m) =>
      Object.entries(m).map(([pattern, p]) => ({ pattern, protocol: PROTOCOL_NAMES[p] }))
    ),
  );
}

function buildConfig(
  raw: NonNullable<RawConfig>,
  file: string,
  options: LoadOptions,
  unset: { keys: Map<string, string>; accounts: Map<string, string> },
  diagnostics: Diagnostic[],
  locate: (path: Path) => Diagnostic["location"],
): Config {
  const error = (path: Path, message: string) =>
    diagnostics.push({ severity: "error", path: path.join("."), message, location: locate(path) });
  const s = raw.server ?? {};
  const listen = s.listen ? parseListen(s.listen)! : DEFAULT_SERVER;
  const apiKeys = (s.api_keys ?? []).filter((k) => k !== "");
  const skipAuth = s.skip_auth ?? DEFAULT_SERVER.skipAuth;
  if (!skipAuth && apiKeys.length === 0) {
    error(
      ["server", "skip_auth"],
      "skip_auth is false but server.api_keys is empty; add a key (e.g. ${BITROUTER_API_KEY}) or set skip_auth: true",
    );
  }
  const unsetKeys = unset.keys;
  const baseTimeouts = timeoutsOf(raw.upstream?.timeouts, DEFAULT_TIMEOUTS);

  const providers: Provider[] = [];
  Object.entries(raw.providers ?? {}).forEach(([id, p], order) => {
    const rp: RawProvider = p ?? {};
    const builtIn = catalogEntry(id);
    const apiBase = rp.api_base ?? builtIn?.apiBase;
    if (!apiBase) {
      const known = Object.keys(CATALOG);
      const hint = suggest(id, known);
      error(
        ["providers", id],
        `api_base is required: "${id}" is not a built-in provider${
          hint ? ` (did you mean "${hint}"?)` : ""
        }; built-ins are ${known.join(", ")}`,
      );
      return;
    }
    const keyVar = unsetKeys.get(id) ?? (rp.api_key === undefined ? builtIn?.keyVar : undefined);
    let apiKey = rp.api_key;
    if (apiKey === undefined && builtIn?.keyVar) apiKey = options.env(builtIn.keyVar);
    let inactiveReason: string | undefined;
    if (rp.active === false) inactiveReason = "active: false in config";
    else if (unsetKeys.has(id) || (!apiKey && builtIn?.keyVar && rp.api_key === undefined)) {
      inactiveReason = `${keyVar} unset`;
    } else if (apiKey && keyVar && !isHeaderSafe(apiKey)) {
      // A built-in's key from the environment is not validated with the file; never sent.
      inactiveReason = unsendableKeyReason(keyVar);
      apiKey = undefined;
    }
    const declared = (rp.models ?? []).map((m) =>
      typeof m === "string" ? { id: m, upstreamId: m } : {
        id: m.id,
        upstreamId: m.provider_model_id ?? m.id,
        ...(m.pricing ? { pricing: pricingOf(m.pricing) } : {}),
      }
    );
    const accounts = accountsOf(id, rp, unset.accounts);
    // Accounts carry their own keys: the provider's key variable being unset does not matter.
    if (accounts?.length && rp.active !== false) inactiveReason = undefined;
    if (accounts && accounts.length === 0 && rp.active !== false) {
      inactiveReason = `${
        [...unset.accounts].filter(([k]) => k.startsWith(`${id}.`)).map(([, v]) => v).join(", ")
      } unset (every account's key)`;
    }
    const models = declared.length || rp.models ? declared : modelsAsNamed(builtIn?.models ?? []);
    providers.push({
      id,
      apiBase: apiBase.replace(/\/+$/, ""),
      apiKey: apiKey || undefined,
      keyVar,
      inactiveReason,
      protocolRules: protocolRules(rp.api_protocol),
      defaultProtocol: defaultProtocolOf(rp.api_base, builtIn?.protocol),
      models,
      priority: rp.priority ?? 0,
      order,
      headers: rp.headers ?? {},
      timeouts: timeoutsOf(rp.timeouts, baseTimeouts),
      autoDiscover: rp.auto_discover ?? false,
      chatCompatibility: {
        systemMessages: rp.compatibility?.chat_completions?.system_messages ??
          SYSTEM_MESSAGE_MODES[0],
        supportsStreamOptions: rp.compatibility?.chat_completions?.supports_stream_options ?? true,
      },
      local: rp.local,
      source: "config",
      ...capacityOf(rp),
      accounts: accounts?.length ? accounts : undefined,
      accountStrategy: rp.account_strategy ?? "failover",
    });
  });

  const declaredIds = new Set(Object.keys(raw.providers ?? {}));
  const virtualModels: VirtualModel[] = [];
  for (const [name, vm] of Object.entries(raw.models ?? {})) {
    const endpoints: VirtualModel["endpoints"] = [];
    vm.endpoints.forEach((e, i) => {
      const path = ["models", name, "endpoints", i];
      const model = e.service_id ?? e.model;
      if (!declaredIds.has(e.provider)) {
        const hint = suggest(e.provider, [...declaredIds]);
        error(
          [...path, "provider"],
          `provider "${e.provider}" is not declared under providers:${
            hint ? ` (did you mean "${hint}"?)` : ""
          }`,
        );
      }
      if (!model) error(path, "required: service_id (the model id at that provider)");
      else {
        endpoints.push({
          provider: e.provider,
          model,
          ...(e.pricing ? { pricing: pricingOf(e.pricing) } : {}),
        });
      }
    });
    virtualModels.push({ name, strategy: vm.strategy ?? "priority", endpoints });
  }

  return {
    file,
    server: {
      hostname: listen.hostname,
      port: listen.port,
      skipAuth,
      apiKeys,
      allowOpen: s.allow_open ?? false,
      logLevel: s.log_level ?? DEFAULT_SERVER.logLevel,
      maxBodyBytes: Math.floor((s.max_body_mb ?? 32) * 1024 * 1024),
      bodyTimeoutSecs: s.body_timeout_secs ?? DEFAULT_SERVER.bodyTimeoutSecs,
      shutdownGraceSecs: s.shutdown_grace_secs ?? DEFAULT_SERVER.shutdownGraceSecs,
      watch: s.watch ?? DEFAULT_SERVER.watch,
      allowedHosts: (s.allowed_hosts ?? []).map((h) => h.trim().toLowerCase()),
      corsOrigins: (s.cors_origins ?? []).map((o) => o.trim() === "*" ? "*" : normalizeOrigin(o)!),
      metricsPublic: s.metrics_public ?? false,
    },
    providers,
    virtualModels,
    health: {
      failures: raw.health?.failures ?? DEFAULT_HEALTH.failures,
      cooldownSecs: raw.health?.cooldown_secs ?? DEFAULT_HEALTH.cooldownSecs,
      maxRetryAfterSecs: raw.health?.max_retry_after_secs ?? DEFAULT_HEALTH.maxRetryAfterSecs,
    },
    discovery: {
      enabled: raw.discovery?.enabled ?? DEFAULT_DISCOVERY.enabled,
      intervalSecs: raw.discovery?.interval_secs ?? DEFAULT_DISCOVERY.intervalSecs,
      targets: raw.discovery?.targets?.map((t) => parseTarget(t)!),
    },
    upstreamTimeouts: baseTimeouts,
    upstreamLimits: {
      maxResponseBytes: mebibytesOr(
        raw.upstream?.max_response_mb,
        DEFAULT_UPSTREAM_LIMITS.maxResponseBytes,
      ),
      maxEventBytes: mebibytesOr(raw.upstream?.max_event_mb, DEFAULT_UPSTREAM_LIMITS.maxEventBytes),
    },
    cascadeStrategy: raw.upstream?.cascade_strategy ?? "priority",
    responses: {
      storeTtlSecs: raw.responses?.store_ttl_secs ?? DEFAULT_RESPONSES.storeTtlSecs,
    },
    usage: usageOf(raw),
    warnings: diagnostics.filter((d) => d.severity === "warning"),
  };
}

/** A provider's capacity settings (SPEC §3.5): absent keys stay absent, so an unlimited provider costs nothing. */
function capacityOf(
  rp: RawProvider,
): Pick<Provider, "maxConcurrent" | "modelMaxConcurrent" | "rateLimits"> {
  const out: Pick<Provider, "maxConcurrent" | "modelMaxConcurrent" | "rateLimits"> = {};
  if (rp.max_concurrent !== undefined) out.maxConcurrent = rp.max_concurrent;
  for (const m of rp.models ?? []) {
    if (typeof m === "string" || m.max_concurrent === undefined) continue;
    (out.modelMaxConcurrent ??= {})[m.provider_model_id ?? m.id] = m.max_concurrent;
  }
  const rules = (rp.rate_limits ?? []).flatMap((entry) =>
    Object.entries(entry).map(([pattern, w]) => ({
      pattern,
      requestsPerMinute: w.requests_per_minute,
      tokensPerMinute: w.tokens_per_minute,
    }))
  ).filter((r) => r.requestsPerMinute !== undefined || r.tokensPerMinute !== undefined);
  if (rules.length) out.rateLimits = rules;
  return out;
}

/**
 * A provider's `accounts`, labelled (`1`, `2`, … when no label is written), without those whose
 * key variable is unset; undefined when it has none.
 */
function accountsOf(
  id: string,
  rp: RawProvider,
  unsetAccounts: Map<string, string>,
): Account[] | undefined {
  if (!rp.accounts?.length) return undefined;
  const out: Account[] = [];
  rp.accounts.forEach((a, i) => {
    if (unsetAccounts.has(`${id}.${i}`) || !a.api_key || !isHeaderSafe(a.api_key)) return;
    out.push({ apiKey: a.api_key, label: a.label ?? String(i + 1) });
  });
  return out;
}

/**
 * A provider's protocol without `api_protocol`: what its api_base says when it names Anthropic or
 * Google; else a built-in's own (so `anthropic` pointed at a gateway still speaks Messages); else
 * Chat Completions.
 */
function defaultProtocolOf(apiBase: string | undefined, builtIn: Protocol | undefined): Protocol {
  const inferred = apiBase ? inferProtocol(apiBase) : "chat_completions";
  return inferred !== "chat_completions" ? inferred : builtIn ?? inferred;
}
