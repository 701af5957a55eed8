import { NoRouteError, resolveCandidates, routableModels } from "../../routing/resolve.ts";
import type { RouteTable } from "../../routing/route_table.ts";
import type { HealthBook } from "../../routing/health.ts";
import type { CapacityBook } from "../../routing/capacity.ts";
import type { ErrorBody } from "../envelope.ts";
import type { Route } from "../router.ts";
import { VERSION } from "../../version.ts";
import type { RecentRequest } from "../../observe/recent_requests.ts";
import type { UsageOverview } from "../../observe/usage_series.ts";
import {
  providersOf,
  type ProviderView,
  StateSince,
  type StatusSources,
  virtualModelsOf,
  type VirtualModelView,
} from "./overview.ts";

/** `GET /health`: open to all, and says it is BitRouter (so `bitrouter route` can tell). */
export const healthRoute: Route = {
  methods: ["GET", "HEAD"],
  style: "openai",
  label: "/health",
  open: true,
  handle: ({ requestId }) =>
    Response.json({ status: "ok" }, {
      headers: { "x-request-id": requestId, "x-bitrouter-version": VERSION },
    }),
};

/** `GET /v1/models`: every id that resolves now (SPEC §3), in OpenAI's list shape. */
export const modelsRoute: Route = {
  methods: ["GET", "HEAD"],
  style: "openai",
  label: "/v1/models",
  handle: ({ table, requestId, createdSecs }) =>
    Response.json({
      object: "list",
      data: [...routableModels(table)].map(([id, owners]) =>
        modelEntry(table, id, owners, createdSecs)
      ),
    }, { headers: { "x-request-id": requestId } }),
};

/** `GET /v1/models/{id}`: one model, or 404 (503 when every server of it is down). */
export const modelRoute: Route = {
  methods: ["GET", "HEAD"],
  style: "openai",
  label: "/v1/models/{id}",
  handle: ({ table, requestId, createdSecs, path, fail }) => {
    try {
      const r = resolveCandidates(table, decodeModelId(path.slice("/v1/models/".length)));
      const owners = r.candidates.map((c) => c.provider.id);
      return Response.json(modelEntry(table, r.model, owners, createdSecs), {
        headers: { "x-request-id": requestId },
      });
    } catch (e) {
      if (!(e instanceof NoRouteError)) throw e;
      return fail(modelNotFound(e), downRetry(e, table));
    }
  },
};

function modelEntry(table: RouteTable, id: string, owners: string[], created: number) {
  return {
    id,
    object: "model",
    created,
    owned_by: table.virtualModels.has(id) ? "bitrouter" : owners[0],
  };
}

/** Where the running server tells the CLI (and the curious) how its endpoints are doing. */
export const STATUS_PATH = "/v1/bitrouter/status";

/** What `GET /v1/bitrouter/status` answers. */
export interface ServerStatus {
  object: "bitrouter.status";
  version: string;
  config: string | null;
  endpoints: {
    provider: string;
    model: string;
    state: string;
    consecutive_failures: number;
    cooling_for_secs: number | null;
    last_error: string | null;
  }[];
  /** Capacity (SPEC §3.5): per provider (or account) in flight / cap, rate windows; the queue. */
  capacity: {
    queued: number;
    endpoints: {
      provider: string;
      in_flight: number;
      max_concurrent: number | null;
      models?: { model: string; in_flight: number; max_concurrent: number | null }[];
      rate_limits?: {
        pattern: string;
        requests: number;
        requests_per_minute: number | null;
        tokens: number;
        tokens_per_minute: number | null;
      }[];
    }[];
  };
  /** Each provider: kind, address, up/down and since when, models (the dashboard). */
  providers?: ProviderView[];
  /** Each virtual model's endpoints in the order they would be tried now. */
  virtual_models?: VirtualModelView[];
  /** The last finished requests, newest first (empty without a source). */
  recent?: RecentRequest[];
  /** Usage per hour (24 h) and per day (30 d) from the usage store; null when usage is off. */
  usage?: UsageOverview | null;
}

/** What computes the full status (the status endpoint and the dashboard's event stream share one). */
export type LiveStatus = (
  table: RouteTable,
  health: HealthBook,
  capacity: CapacityBook | undefined,
) => Promise<ServerStatus>;

/**
 * The full status: the endpoints' health and capacity, then the dashboard's view — providers,
 * virtual models' order now, the last requests and usage — from `sources`.
 */
export function liveStatus(sources: StatusSources): LiveStatus {
  const wallNow = sources.wallNow ?? Date.now;
  const since = new StateSince(wallNow());
  return async (table, health, capacity) => {
    const status = statusOf(table, health, capacity);
    status.providers = providersOf(table, since, wallNow());
    status.virtual_models = virtualModelsOf(table, health, capacity);
    status.recent = sources.recent?.list() ?? [];
    status.usage = sources.usage ? await sources.usage() : null;
    return status;
  };
}

/** `GET /v1/bitrouter/status` (SPEC §4): endpoints' health and capacity, and what `status` adds. */
export function statusRouteWith(status: LiveStatus): Route {
  return {
    methods: ["GET", "HEAD"],
    style: "openai",
    label: STATUS_PATH,
    handle: async ({ table, requestId, deps, request }) => {
      const headers = { "x-request-id": requestId, "cache-control": "no-store" };
      if (request.method === "HEAD") {
        return new Response(null, { headers: { ...headers, "content-type": "application/json" } });
      }
      return Response.json(await status(table, deps.health, deps.capacity), { headers });
    },
  };
}

function statusOf(
  table: RouteTable,
  health: HealthBook,
  capacity: CapacityBook | undefined,
): ServerStatus {
  return {
    object: "bitrouter.status",
    version: VERSION,
    config: table.config.file ?? null,
    endpoints: health.snapshot().map((e) => ({
      provider: e.provider,
      model: e.model,
      state: e.state,
      consecutive_failures: e.consecutiveFailures,
      cooling_for_secs: e.coolingForMs === undefined ? null : Math.ceil(e.coolingForMs / 1000),
      last_error: e.lastError ?? null,
    })),
    capacity: {
      queued: capacity?.queued ?? 0,
      endpoints: (capacity?.snapshot() ?? []).map((c) => ({
        provider: c.provider,
        in_flight: c.inFlight,
        max_concurrent: c.cap ?? null,
        models: c.models?.map((m) => ({
          model: m.model,
          in_flight: m.inFlight,
          max_concurrent: m.cap ?? null,
        })),
        rate_limits: c.rateLimits?.map((w) => ({
          pattern: w.pattern,
          requests: w.requests,
          requests_per_minute: w.requestsPerMinute ?? null,
          tokens: w.tokens,
          tokens_per_minute: w.tokensPerMinute ?? null,
        })),
      })),
    },
  };
}

/** The answer for a model nothing serves: 404, or 503 when every server of it is down. */
export function modelNotFound(e: NoRouteError): ErrorBody {
  if (e.unavailable) {
    // Every server of the model is down (SPEC §7): answer at once, without a connection attempt.
    return { status: 503, type: "upstream_error", code: "provider_down", message: e.message };
  }
  return {
    status: 404,
    type: "invalid_request_error",
    code: "model_not_found",
    message: e.message,
  };
}

/**
 * `Retry-After` for a model whose every server is down: the next discovery probe may find one up
 * (SPEC §4: BitRouter's own 503s say when to come back).
 */
export function downRetry(e: NoRouteError, table: RouteTable): Record<string, string> {
  return e.unavailable
    ? { "retry-after": String(Math.ceil(table.config.discovery.intervalSecs)) }
    : {};
}

/** The model id of a `/v1/models/{id}` path; a malformed escape is kept as written (and so not found). */
function decodeModelId(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
