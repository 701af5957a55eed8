import type { Provider, ServerKind } from "../config/types.ts";

/** What a probe learned about one address. */
export type ProbeOutcome =
  /** A model server: its kind, the model ids it lists, and which of them are loaded now. */
  | {
    status: "up";
    kind: ServerKind;
    models: string[];
    loaded: string[] | "all";
    /** How many requests it runs at once, when it says (llama.cpp `/props` `total_slots`). */
    slots?: number;
  }
  /** Nothing answered (refused, reset, DNS, or no answer in time). */
  | { status: "down"; reason: string }
  /** Something answered HTTP, but not as a model server (a web app on 8080, a wrong key). */
  | { status: "other"; reason: string };

type Got =
  | { ok: true; json: unknown }
  | { ok: false; status: number }
  | { ok: false; status: 0; reason: string };

/** GETs url and parses JSON; every body is consumed or cancelled. */
async function getJson(
  fetchFn: typeof fetch,
  url: string,
  signal: AbortSignal,
  headers: HeadersInit = {},
): Promise<Got> {
  let res: Response;
  try {
    res = await fetchFn(url, { signal, headers: { accept: "application/json", ...headers } });
  } catch (e) {
    return { ok: false, status: 0, reason: unreachableReason(e, signal) };
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    return { ok: false, status: res.status };
  }
  try {
    return { ok: true, json: await res.json() };
  } catch (e) {
    // A body cut off by the deadline is "no answer in time"; anything else is not JSON.
    if (signal.aborted) return { ok: false, status: 0, reason: unreachableReason(e, signal) };
    return { ok: false, status: res.status };
  }
}

/** An error's message with its causes' (Deno's fetch says "fetch failed", the cause says why). */
export function errorText(e: unknown): string {
  const parts: string[] = [];
  for (let x = e, depth = 0; x !== undefined && x !== null && depth < 4; depth++) {
    parts.push(x instanceof Error ? x.message : String(x));
    x = x instanceof Error ? x.cause : undefined;
  }
  return parts.join(": ");
}

/** A short reason for a failed connection, as `bitrouter providers` shows it. */
export function unreachableReason(e: unknown, signal?: AbortSignal): string {
  if (signal?.aborted) return "no answer in time";
  const message = errorText(e);
  if (/connection refused/i.test(message)) return "connection refused";
  if (/dns error|failed to lookup|name or service not known|no such host/i.test(message)) {
    return "DNS lookup failed";
  }
  if (/connection reset|broken pipe|connection closed/i.test(message)) return "connection reset";
  return message.replace(/\s+/g, " ").slice(0, 120);
}

function record(x: unknown): Record<string, unknown> | undefined {
  return x !== null && typeof x === "object" && !Array.isArray(x)
    ? x as Record<string, unknown>
    : undefined;
}

/** The string `key` of each entry of `list` (e.g. `data[].id`, `models[].name`). */
function idsOf(list: unknown, key: string): string[] | undefined {
  if (!Array.isArray(list)) return undefined;
  return list.map((e) => record(e)?.[key]).filter((id): id is string =>
    typeof id === "string" && id !== ""
  );
}

/** `data[].id` of an OpenAI model list, or undefined when it is not one. */
function openAiIds(got: Got): string[] | undefined {
  return got.ok ? idsOf(record(got.json)?.data, "id") : undefined;
}

function hasVersion(got: Got): boolean {
  return got.ok && typeof record(got.json)?.version === "string";
}

/** The kind a server claims in its `/v1/models` `owned_by`, when that is telling. */
function kindFromOwner(got: Got): ServerKind | undefined {
  if (!got.ok) return undefined;
  const first = record((record(got.json)?.data as unknown[] | undefined)?.[0]);
  switch (first?.owned_by) {
    case "vllm":
      return "vllm";
    case "llamacpp":
      return "llamacpp";
    case "organization_owner":
      return "lmstudio";
    case "library":
    case "ollama":
      return "ollama";
  }
  return undefined;
}

/** Why a set of answers is not a usable model server: all unreachable → down, else other. */
function failure(gots: Got[], what: string): ProbeOutcome {
  const unreachable = gots.find((g): g is Extract<Got, { status: 0 }> => !g.ok && g.status === 0);
  if (unreachable && gots.every((g) => !g.ok && g.status === 0)) {
    return { status: "down", reason: unreachable.reason };
  }
  const codes = gots.filter((g): g is { ok: false; status: number } => !g.ok && g.status > 0);
  const code = codes.find((g) => g.status === 401 || g.status === 403)?.status;
  return {
    status: "other",
    reason: code
      ? `${what} answered ${code} (does it need an api_key?)`
      : `${what} lists no models`,
  };
}

/** Lists an Ollama server's models (`/api/tags`) and the loaded ones (`/api/ps`). */
async function probeOllama(
  fetchFn: typeof fetch,
  origin: string,
  signal: AbortSignal,
  headers: HeadersInit,
): Promise<ProbeOutcome> {
  const [tags, ps] = await Promise.all([
    getJson(fetchFn, `${origin}/api/tags`, signal, headers),
    getJson(fetchFn, `${origin}/api/ps`, signal, headers),
  ]);
  const models = tags.ok ? idsOf(record(tags.json)?.models, "name") : undefined;
  if (!models) return failure([tags], `${origin}/api/tags`);
  const loaded = ps.ok ? idsOf(record(ps.json)?.models, "name") ?? [] : [];
  return { status: "up", kind: "ollama", models, loaded };
}

/** LM Studio's own listing says which models are loaded; `/v1/models` lists them all. */
function lmStudioOutcome(v0: Got): ProbeOutcome | undefined {
  if (!v0.ok) return undefined;
  const data = record(v0.json)?.data;
  const models = idsOf(data, "id");
  if (!models || !Array.isArray(data)) return undefined;
  const loaded = data.filter((e) => record(e)?.state === "loaded").map((e) => record(e)!.id)
    .filter((id): id is string => typeof id === "string");
  return { status: "up", kind: "lmstudio", models, loaded };
}

/**
 * Probes the server at `origin` (`http://host:port`): identifies its kind from the answers only
 * its kind gives (Ollama `/api/version`, llama.cpp `/props`, LM Studio `/api/v0/models`, vLLM
 * `/version`), lists its models and which are loaded. With `known` set, asks only what that kind
 * answers, and identifies afresh when those answers stop making sense.
 */
export async function probeServer(
  fetchFn: typeof fetch,
  origin: string,
  signal: AbortSignal,
  options: { known?: ServerKind; headers?: HeadersInit } = {},
): Promise<ProbeOutcome> {
  const headers = options.headers ?? {};
  const get = (path: string) => getJson(fetchFn, origin + path, signal, headers);
  if (options.known) {
    const outcome = await probeKnown(options.known, fetchFn, origin, signal, headers);
    if (outcome.status !== "other") return outcome;
  }
  const [ollamaVersion, props, vllmVersion, lmStudio, models] = await Promise.all([
    get("/api/version"),
    get("/props"),
    get("/version"),
    get("/api/v0/models"),
    get("/v1/models"),
  ]);
  const all = [ollamaVersion, props, vllmVersion, lmStudio, models];
  if (hasVersion(ollamaVersion)) return await probeOllama(fetchFn, origin, signal, headers);
  const ids = openAiIds(models);
  const p = props.ok ? record(props.json) : undefined;
  if (p && ("default_generation_settings" in p || "build_info" in p || "model_path" in p)) {
    const alias = typeof p.model_alias === "string" ? [p.model_alias] : undefined;
    const listed = ids ?? alias;
    if (!listed) return failure(all, origin);
    return { status: "up", kind: "llamacpp", models: listed, loaded: "all", slots: slotsOf(p) };
  }
  const lm = lmStudioOutcome(lmStudio);
  if (lm) return lm;
  if (!ids) return failure(all, origin);
  if (hasVersion(vllmVersion)) return { status: "up", kind: "vllm", models: ids, loaded: "all" };
  const kind = kindFromOwner(models) ?? "openai";
  if (kind === "ollama") return await probeOllama(fetchFn, origin, signal, headers);
  return {
    status: "up",
    kind,
    models: ids,
    loaded: kind === "vllm" || kind === "llamacpp" ? "all" : [],
  };
}

async function probeKnown(
  kind: ServerKind,
  fetchFn: typeof fetch,
  origin: string,
  signal: AbortSignal,
  headers: HeadersInit,
): Promise<ProbeOutcome> {
  if (kind === "ollama") return await probeOllama(fetchFn, origin, signal, headers);
  if (kind === "lmstudio") {
    const v0 = await getJson(fetchFn, `${origin}/api/v0/models`, signal, headers);
    return lmStudioOutcome(v0) ?? failure([v0], origin);
  }
  const [got, props] = await Promise.all([
    getJson(fetchFn, `${origin}/v1/models`, signal, headers),
    // llama.cpp's slot count is its capacity (SPEC §3.5); asked each round, so it stays current.
    kind === "llamacpp" ? getJson(fetchFn, `${origin}/props`, signal, headers) : undefined,
  ]);
  const ids = openAiIds(got);
  if (!ids) return failure([got], origin);
  const slots = props?.ok ? slotsOf(record(props.json)) : undefined;
  return { status: "up", kind, models: ids, loaded: kind === "openai" ? [] : "all", slots };
}

/** llama.cpp's `total_slots`, when it is a sensible count. */
function slotsOf(props: Record<string, unknown> | undefined): number | undefined {
  const n = props?.total_slots;
  return typeof n === "number" && Number.isInteger(n) && n > 0 && n <= 4096 ? n : undefined;
}

/** The headers a provider's own `GET /models` needs: its key, as its protocol sends it. */
export function authHeaders(provider: Provider): Record<string, string> {
  const headers: Record<string, string> = { ...provider.headers };
  if (!provider.apiKey) return headers;
  if (provider.defaultProtocol === "messages") {
    headers["x-api-key"] = provider.apiKey;
    headers["anthropic-version"] = "2023-06-01";
  } else headers.authorization = `Bearer ${provider.apiKey}`;
  return headers;
}

/**
 * Lists a provider's models from `GET {api_base}/models` (any OpenAI-shaped list; Gemini's
 * `models/` prefix removed). Any HTTP answer means the server is up.
 */
export async function listProviderModels(
  fetchFn: typeof fetch,
  provider: Provider,
  signal: AbortSignal,
): Promise<ProbeOutcome> {
  const query = provider.defaultProtocol === "messages" ? "?limit=1000" : "";
  const got = await getJson(
    fetchFn,
    `${provider.apiBase}/models${query}`,
    signal,
    authHeaders(provider),
  );
  const ids = openAiIds(got);
  if (!ids) return failure([got], `${provider.apiBase}/models`);
  return {
    status: "up",
    kind: "openai",
    models: ids.map((id) => id.replace(/^models\//, "")),
    loaded: [],
  };
}
