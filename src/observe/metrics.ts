import type { RequestRecord } from "./log.ts";
import type { RouteTable } from "../routing/route_table.ts";
import type { HealthBook } from "../routing/health.ts";
import type { CapacityBook } from "../routing/capacity.ts";

/** Histogram buckets in seconds: from a fast local token to a slow model load. */
export const SECONDS_BUCKETS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
];

/** Series per metric before new label sets fold into `other` (a backstop; labels are bounded anyway). */
const MAX_SERIES = 2000;

/** The client protocols a request can be counted under; anything else (an unknown path) is `other`. */
const PROTOCOLS = new Set([
  "chat_completions",
  "messages",
  "responses",
  "generate_content",
  "ollama",
  "gemini",
  "completions",
  "embeddings",
  "models",
  "status",
  "health",
  "metrics",
]);

/** Where the server-wide scrape-time gauges come from; each optional. */
export interface MetricSources {
  /** Discovered servers: id and whether it answers now. */
  discovered?: () => { id: string; up: boolean }[];
  /** The usage store's counters. */
  usageRows?: () => { written: number; lost: number };
}

type Labels = Record<string, string>;

class Counter {
  readonly values = new Map<string, number>();
  add(labels: Labels, by = 1): void {
    this.addAt(seriesKey(labels, this.values), by);
  }
  /** Adds to the series of a label text made by `formatLabels` (see `Metrics.observe`). */
  addAt(key: string, by = 1): void {
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
}

class Histogram {
  readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  observe(key: string, value: number): void {
    let s = this.series.get(key);
    if (!s) {
      s = { counts: new Array(SECONDS_BUCKETS.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < SECONDS_BUCKETS.length; i++) if (value <= SECONDS_BUCKETS[i]) s.counts[i]++;
    s.sum += value;
    s.count++;
  }
}

/** The label text `{a="x",b="y"}`, or `{…="other"}` once a metric has MAX_SERIES series. */
function seriesKey(labels: Labels, existing: Map<string, unknown>): string {
  return keptKey(formatLabels(labels), existing, () => Object.keys(labels));
}

/**
 * `key` while the metric has room for it (or has it already), else its `other` series: a metric
 * never holds more than MAX_SERIES series. Maps only grow, so the answer for a key never changes.
 */
function keptKey(key: string, existing: Map<string, unknown>, names: () => string[]): string {
  if (existing.has(key) || existing.size < MAX_SERIES) return key;
  return formatLabels(Object.fromEntries(names().map((k) => [k, "other"])));
}

function formatLabels(labels: Labels): string {
  let out = "";
  for (const k in labels) out += `${out ? "," : "{"}${k}="${escapeLabel(labels[k])}"`;
  return out ? out + "}" : "";
}

/** A label value as the text format wants it: backslash, quote and newline escaped. */
function escapeLabel(v: string): string {
  if (!NEEDS_ESCAPE.test(v)) return v;
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

const NEEDS_ESCAPE = /[\\"\n]/;

/** `{a="x"}` + `le="0.5"` → `{a="x",le="0.5"}`. */
function withLabel(key: string, name: string, value: string): string {
  const extra = `${name}="${value}"`;
  return key === "" ? `{${extra}}` : `${key.slice(0, -1)},${extra}}`;
}

const DIRECTIONS = ["input", "output", "cached_input", "cache_write", "reasoning"] as const;
type Direction = typeof DIRECTIONS[number];
const TOKEN_LABELS = () => ["provider", "model", "direction"];

/** The label texts of one kind of request (see `Metrics.observe`). */
interface LabelTexts {
  /** `{protocol,provider,model,status_class}`, already its `other` series when the metric is full. */
  requests: string;
  /** `{protocol,provider}` of both histograms, the same way. */
  timing: string;
  /** `{provider}` and `{provider,model}`, checked for room at each use (their metrics fill apart). */
  provider: string;
  model: string;
  /** `{provider,model,direction}` per direction. */
  tokens: Record<Direction, string>;
}

/** The model ids a table knows (declared, discovered, virtual), cached per table. */
const KNOWN_MODELS = new WeakMap<RouteTable, Set<string>>();

function knownModels(table: RouteTable): Set<string> {
  let known = KNOWN_MODELS.get(table);
  if (!known) {
    known = new Set([...table.virtualModels.keys(), ...table.offers.keys()]);
    for (const p of table.providers.values()) {
      for (const m of p.models) known.add(m.id).add(m.upstreamId);
    }
    KNOWN_MODELS.set(table, known);
  }
  return known;
}

/**
 * BitRouter's Prometheus metrics (SPEC §8): counters and histograms fed by each finished
 * request's record, gauges read at scrape time, all written out by hand in the text format.
 * Label values are bounded: a model id the config and discovery do not know is `other`, a
 * provider not in the table is `other`, a protocol outside the known set is `other`.
 */
export class Metrics {
  readonly #requests = new Counter();
  readonly #duration = new Histogram();
  readonly #ttfb = new Histogram();
  readonly #tokens = new Counter();
  readonly #cost = new Counter();
  readonly #noUsage = new Counter();
  readonly #reloads = new Counter();
  #sources: MetricSources = {};
  readonly #texts = new Map<string, LabelTexts>();

  /** Where scrape-time gauges come from (set once the server's parts exist). */
  setSources(sources: MetricSources): void {
    this.#sources = { ...this.#sources, ...sources };
  }

  /** Counts one reload of the config, successful or not. */
  reloaded(ok: boolean): void {
    this.#reloads.add({ result: ok ? "success" : "failure" });
  }

  /** Counts one finished request. */
  observe(r: RequestRecord, table: RouteTable): void {
    const protocol = PROTOCOLS.has(r.protocol) ? r.protocol : "other";
    const provider = r.provider === undefined
      ? "none"
      : table.providers.has(r.provider)
      ? r.provider
      : "other";
    const model = r.model === undefined
      ? "none"
      : knownModels(table).has(r.model)
      ? r.model
      : "other";
    const status = r.status >= 100 && r.status < 600 ? `${Math.floor(r.status / 100)}xx` : "other";
    const t = this.#labelTexts(protocol, provider, model, status);
    this.#requests.addAt(t.requests);
    this.#duration.observe(t.timing, r.totalMs / 1000);
    if (r.ttfbMs !== undefined) this.#ttfb.observe(t.timing, r.ttfbMs / 1000);
    if (r.provider === undefined) return;
    const u = r.usage;
    if (!u) {
      this.#noUsage.addAt(keptKey(t.provider, this.#noUsage.values, () => ["provider"]));
      return;
    }
    const tokens = this.#tokens;
    const count = (direction: Direction, n: number | null) => {
      if (n !== null) tokens.addAt(keptKey(t.tokens[direction], tokens.values, TOKEN_LABELS), n);
    };
    count("input", u.input);
    count("output", u.output);
    count("cached_input", u.cachedInput);
    count("cache_write", u.cacheWrite);
    count("reasoning", u.reasoning);
    if (r.costUsd !== undefined) {
      this.#cost.addAt(keptKey(t.model, this.#cost.values, () => ["provider", "model"]), r.costUsd);
    }
  }

  /**
   * The label texts of one kind of request, formatted on its first sight and then looked up:
   * formatting and escaping seven label sets for each request cost more than the counting.
   * Bounded like the label values themselves; cleared should a config change pile them up.
   */
  #labelTexts(protocol: string, provider: string, model: string, status: string): LabelTexts {
    const id = `${protocol}\0${provider}\0${model}\0${status}`;
    let t = this.#texts.get(id);
    if (t) return t;
    if (this.#texts.size >= MAX_SERIES) this.#texts.clear();
    const providerModel = formatLabels({ provider, model });
    t = {
      requests: keptKey(
        formatLabels({ protocol, provider, model, status_class: status }),
        this.#requests.values,
        () => ["protocol", "provider", "model", "status_class"],
      ),
      timing: keptKey(
        formatLabels({ protocol, provider }),
        // Both histograms have the same label sets; the duration one always has the most.
        this.#duration.series,
        () => ["protocol", "provider"],
      ),
      provider: formatLabels({ provider }),
      model: providerModel,
      tokens: Object.fromEntries(
        DIRECTIONS.map((d) => [d, withLabel(providerModel, "direction", d)]),
      ) as Record<Direction, string>,
    };
    this.#texts.set(id, t);
    return t;
  }

  /** The exposition (text format 0.0.4), with the handler's health and capacity books. */
  render(table: RouteTable, books: { health?: HealthBook; capacity?: CapacityBook } = {}): string {
    const out: string[] = [];
    const counter = (name: string, help: string, c: Counter) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [k, v] of c.values) out.push(`${name}${k} ${v}`);
    };
    const histogram = (name: string, help: string, h: Histogram) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
      for (const [k, s] of h.series) {
        SECONDS_BUCKETS.forEach((b, i) => {
          out.push(`${name}_bucket${withLabel(k, "le", String(b))} ${s.counts[i]}`);
        });
        out.push(`${name}_bucket${withLabel(k, "le", "+Inf")} ${s.count}`);
        out.push(`${name}_sum${k} ${s.sum}`, `${name}_count${k} ${s.count}`);
      }
    };
    const gauge = (name: string, help: string, rows: [Labels, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
      for (const [labels, v] of rows) out.push(`${name}${formatLabels(labels)} ${v}`);
    };
    counter(
      "bitrouter_requests_total",
      "Finished requests by client protocol, provider that served, model asked and status class.",
      this.#requests,
    );
    histogram(
      "bitrouter_request_duration_seconds",
      "Time from the request's arrival to the end of its answer.",
      this.#duration,
    );
    histogram(
      "bitrouter_time_to_first_byte_seconds",
      "Time from the request's arrival to the upstream's response headers.",
      this.#ttfb,
    );
    counter(
      "bitrouter_tokens_total",
      "Tokens the upstreams reported, by direction (input counts cached_input and cache_write; output counts reasoning).",
      this.#tokens,
    );
    counter(
      "bitrouter_cost_usd_total",
      "Cost in US dollars of the requests whose price and usage are known (local servers: 0).",
      this.#cost,
    );
    counter(
      "bitrouter_requests_without_usage_total",
      "Served requests whose upstream reported no usage (tokens unknown).",
      this.#noUsage,
    );
    const s = this.#sources;
    const health = books.health?.snapshot() ?? [];
    gauge(
      "bitrouter_endpoint_healthy",
      "1 when an endpoint (provider, model) that has been called is healthy, 0 while cooling down or probed.",
      health.filter((e) => table.providers.has(e.provider)).map((e) => [
        { provider: e.provider, model: knownModels(table).has(e.model) ? e.model : "other" },
        e.state === "healthy" ? 1 : 0,
      ]),
    );
    gauge(
      "bitrouter_provider_up",
      "1 when a provider is active and not marked down (discovery or a failed connect).",
      [...table.providers.values()].map((p) => [
        { provider: p.id },
        p.inactiveReason || p.downReason ? 0 : 1,
      ]),
    );
    gauge(
      "bitrouter_discovered_server_up",
      "1 when a discovered local server answers its probe, 0 when it stopped.",
      (s.discovered?.() ?? []).map((d) => [{ server: d.id }, d.up ? 1 : 0]),
    );
    const capacity = books.capacity;
    if (capacity) {
      gauge(
        "bitrouter_in_flight_requests",
        "Requests being served now, per provider (or account).",
        capacity.snapshot().map((c) => [{ provider: c.provider }, c.inFlight]),
      );
      gauge(
        "bitrouter_queued_requests",
        "Requests waiting for a free slot (SPEC §3.5).",
        [[{}, capacity.queued]],
      );
    }
    counter(
      "bitrouter_config_reloads_total",
      "Config reloads (SIGHUP or a file change), by result.",
      this.#reloads,
    );
    const rows = s.usageRows?.();
    out.push(
      "# HELP bitrouter_usage_rows_written_total Rows written to the usage store.",
      "# TYPE bitrouter_usage_rows_written_total counter",
      `bitrouter_usage_rows_written_total ${rows?.written ?? 0}`,
      "# HELP bitrouter_usage_rows_lost_total Usage rows that could not be stored (store unwritable).",
      "# TYPE bitrouter_usage_rows_lost_total counter",
      `bitrouter_usage_rows_lost_total ${rows?.lost ?? 0}`,
    );
    return out.join("\n") + "\n";
  }
}
