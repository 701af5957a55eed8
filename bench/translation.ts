/**
 * The translated path (issue 3): a Messages client streaming from the chat upstream against a
 * chat client, over a short and a long stream, giving the cost per upstream event as a slope.
 */
import { log } from "./proc.ts";
import { eventCount, LONG_STREAM_BODY, REQUEST, STREAM_BODY } from "./upstream.ts";
import { errorCount, type LoadOptions, pinServers, runWrk, type Tools, wrkScript } from "./load.ts";
import { fmtInt, fmtUs } from "./report.ts";

/** Same-protocol chat streaming, or a Messages client translated onto the chat upstream. */
export type TranslationPath = "passthrough" | "translated";
/** An 11-event stream, or a 111-event one. */
export type StreamLength = "short" | "long";

/** One measured translation run. */
export interface TranslationResult {
  path: TranslationPath;
  length: StreamLength;
  conns: number;
  rps: number;
  p50_us: number;
  p99_us: number;
  errors: number;
  /** events the upstream sends per request ([DONE] included) */
  upstream_events: number;
}

/**
 * What translating costs, from runs of a short and a long stream: the slope of p50 over the
 * upstream's event count is the cost of one event, free of the per-request work.
 */
export interface TranslationCost {
  conns: number;
  /** p50 added per upstream event by the same-protocol relay (the slope, for scale) */
  passthrough_per_event_us: number;
  /** p50 added per upstream event when each is parsed and translated */
  translated_per_event_us: number;
  /** translated_per_event_us − passthrough_per_event_us: what translation adds per event */
  added_per_event_us: number;
  /** p50 of a translated short stream minus a passthrough one: per request, all included */
  short_added_p50_us: number;
  short_throughput_ratio: number;
  long_throughput_ratio: number;
}

/** A streaming request per translation run: the client's protocol, and the stream's length. */
export const TRANSLATION_REQUEST: Record<TranslationPath, Record<StreamLength, string>> = {
  passthrough: {
    short: REQUEST.stream,
    long: JSON.stringify({ ...JSON.parse(REQUEST.stream), model: "bench-long" }),
  },
  translated: {
    short: messagesRequest("bench-stream"),
    long: messagesRequest("bench-long"),
  },
};

/** The Anthropic Messages twin of REQUEST.stream, for `model`. */
function messagesRequest(model: string): string {
  return JSON.stringify({
    model,
    max_tokens: 16,
    messages: [{ role: "user", content: "Say hello." }],
    stream: true,
  });
}

/** The client path of each translation run, on BitRouter. */
export const TRANSLATION_CLIENT_PATH: Record<TranslationPath, string> = {
  passthrough: "/v1/chat/completions",
  translated: "/v1/messages",
};

/**
 * One request per translation run through BitRouter at `origin`: the passthrough answers are the
 * upstream's bytes, and each translated answer is a whole Messages stream with one text delta per
 * upstream content chunk, so the runs measure what they claim to.
 */
export async function checkTranslation(origin: string): Promise<void> {
  for (const length of ["short", "long"] as StreamLength[]) {
    const upstream = length === "short" ? STREAM_BODY : LONG_STREAM_BODY;
    for (const path of ["passthrough", "translated"] as TranslationPath[]) {
      const res = await fetch(origin + TRANSLATION_CLIENT_PATH[path], {
        method: "POST",
        body: TRANSLATION_REQUEST[path][length],
        headers: { "content-type": "application/json" },
      });
      const body = await res.text();
      const what = `bitrouter ${path} ${length} stream`;
      if (res.status !== 200) {
        throw new Error(`${what}: HTTP ${res.status}: ${body.slice(0, 300)}`);
      }
      if (path === "passthrough") {
        if (body !== upstream) throw new Error(`${what}: body differs from the upstream's`);
        continue;
      }
      const deltas = body.split("\n").filter((l) => l === "event: content_block_delta").length;
      // Every chunk but the last (finish_reason, empty delta) and [DONE] carries text.
      const want = eventCount(upstream) - 2;
      if (!body.includes("event: message_stop") || deltas !== want) {
        throw new Error(
          `${what}: expected ${want} text deltas and message_stop, got ${deltas}:\n` +
            body.slice(0, 300),
        );
      }
    }
  }
}

/** Runs the translation comparison against BitRouter at `origin` at each connection count. */
export async function runTranslation(
  tools: Tools,
  dir: string,
  origin: string,
  opts: LoadOptions,
): Promise<TranslationResult[]> {
  const results: TranslationResult[] = [];
  for (const conns of opts.conns) {
    await pinServers(tools, conns === 1 ? tools.pinCpu : tools.allCpus);
    for (const length of ["short", "long"] as StreamLength[]) {
      for (const path of ["passthrough", "translated"] as TranslationPath[]) {
        const script = `${dir}/${path}-${length}.lua`;
        await Deno.writeTextFile(script, wrkScript(TRANSLATION_REQUEST[path][length]));
        const url = origin + TRANSLATION_CLIENT_PATH[path];
        if (opts.warmup > 0) await runWrk(tools, script, url, conns, opts.warmup);
        const s = await runWrk(tools, script, url, conns, opts.duration);
        const r: TranslationResult = {
          path,
          length,
          conns,
          rps: s.requests / (s.duration_us / 1e6),
          p50_us: s.p50_us,
          p99_us: s.p99_us,
          errors: errorCount(s),
          upstream_events: eventCount(length === "short" ? STREAM_BODY : LONG_STREAM_BODY),
        };
        results.push(r);
        log(
          `bitrouter ${path.padEnd(11)} ${length.padEnd(5)} c=${String(conns).padEnd(3)} ` +
            `${fmtInt(r.rps).padStart(7)} req/s  p50 ${fmtUs(r.p50_us)}  p99 ${fmtUs(r.p99_us)}${
              r.errors ? `  errors ${r.errors}` : ""
            }`,
        );
      }
    }
  }
  return results;
}

/** The translation costs per connection count, from runTranslation's results. */
export function translationCosts(results: TranslationResult[]): TranslationCost[] {
  const out: TranslationCost[] = [];
  for (const conns of new Set(results.map((r) => r.conns))) {
    const get = (path: TranslationPath, length: StreamLength) =>
      results.find((r) => r.conns === conns && r.path === path && r.length === length);
    const ps = get("passthrough", "short"), pl = get("passthrough", "long");
    const ts = get("translated", "short"), tl = get("translated", "long");
    if (!ps || !pl || !ts || !tl) continue;
    const events = pl.upstream_events - ps.upstream_events;
    const passthrough = (pl.p50_us - ps.p50_us) / events;
    const translated = (tl.p50_us - ts.p50_us) / events;
    out.push({
      conns,
      passthrough_per_event_us: passthrough,
      translated_per_event_us: translated,
      added_per_event_us: translated - passthrough,
      short_added_p50_us: ts.p50_us - ps.p50_us,
      short_throughput_ratio: ts.rps / ps.rps,
      long_throughput_ratio: tl.rps / pl.rps,
    });
  }
  return out;
}
