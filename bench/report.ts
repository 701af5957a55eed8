/**
 * The bench's verdicts against SPEC §9 and its text report: the load table, BitRouter against the
 * floor and against Portkey, the translated path, the memory figures and what compiling embeds.
 */
import type { Result } from "./load.ts";
import type { Kind } from "./upstream.ts";
import type { TranslationResult } from "./translation.ts";
import { translationCosts } from "./translation.ts";
import type { MemoryFigures } from "./memory.ts";
import type { CompileSize } from "./compile_size.ts";

/** SPEC §9: BitRouter's throughput is at least this share of the conforming floor's. */
export const THROUGHPUT_MIN = 0.9;
/** SPEC §9: BitRouter adds at most this to the floor's median latency at one connection. */
export const ADDED_P50_MAX_US = 15;
/** SPEC §9: BitRouter's throughput is at least this multiple of Portkey's. */
export const PORTKEY_RATIO_MIN = 10;

/** BitRouter against the floor at one kind and connection count. */
export interface Comparison {
  kind: Kind;
  conns: number;
  throughput_ratio: number;
  added_p50_us: number;
  throughput_ok: boolean;
  /** Only judged at one connection, where latency is not queueing. */
  latency_ok: boolean | null;
  errors_ok: boolean;
}

/** BitRouter against Portkey's gateway at one kind and connection count. */
export interface PortkeyComparison {
  kind: Kind;
  conns: number;
  portkey_rps: number;
  bitrouter_rps: number;
  /** BitRouter's throughput over Portkey's (SPEC §9: ≥ 10) */
  ratio: number;
  ok: boolean;
}

/** A duration in µs as text: µs below 10 ms, else ms. */
export function fmtUs(us: number): string {
  return us >= 10_000 ? `${(us / 1000).toFixed(1)}ms` : `${Math.round(us)}µs`;
}

/** A count with thousands separators. */
export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** A size in bytes as MiB with one decimal (`deno compile` prints these as "MB"). */
export function fmtMB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** KiB as MiB with one decimal. */
export function fmtKiB(kib: number): string {
  return `${(kib / 1024).toFixed(1)} MiB`;
}

/** Rows as aligned columns; `right` says which columns are right-aligned. */
export function table(rows: string[][], right: boolean[]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) =>
    r.map((cell, c) => right[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c])).join("  ")
      .trimEnd()
  ).join("\n");
}

/** BitRouter's results against the floor's at the same kind and connection count. */
export function compare(results: Result[]): Comparison[] {
  const out: Comparison[] = [];
  for (const br of results.filter((r) => r.target === "bitrouter")) {
    const floor = results.find((r) =>
      r.target === "floor" && r.kind === br.kind && r.conns === br.conns
    );
    if (!floor) continue;
    const ratio = br.rps / floor.rps;
    const added = br.p50_us - floor.p50_us;
    out.push({
      kind: br.kind,
      conns: br.conns,
      throughput_ratio: ratio,
      added_p50_us: added,
      throughput_ok: ratio >= THROUGHPUT_MIN,
      latency_ok: br.conns === 1 ? added <= ADDED_P50_MAX_US : null,
      errors_ok: br.errors === 0,
    });
  }
  return out;
}

/** BitRouter's throughput against Portkey's at the same kind and connection count. */
export function compareToPortkey(results: Result[]): PortkeyComparison[] {
  const out: PortkeyComparison[] = [];
  for (const pk of results.filter((r) => r.target === "portkey")) {
    const br = results.find((r) =>
      r.target === "bitrouter" && r.kind === pk.kind && r.conns === pk.conns
    );
    if (!br) continue;
    const ratio = pk.rps > 0 ? br.rps / pk.rps : Infinity;
    out.push({
      kind: pk.kind,
      conns: pk.conns,
      portkey_rps: pk.rps,
      bitrouter_rps: br.rps,
      ratio,
      ok: ratio >= PORTKEY_RATIO_MIN,
    });
  }
  return out;
}

/** Everything measured, as the text report. */
export interface ReportInput {
  header: string;
  results: Result[];
  comparisons: Comparison[];
  portkey: PortkeyComparison[];
  translation: TranslationResult[];
  memory: MemoryFigures;
  compile: CompileSize | null;
}

/** The whole report as text. */
export function report(input: ReportInput): string {
  const { results, comparisons, translation } = input;
  const lines = [input.header];
  if (results.length) {
    lines.push("", loadTable(results));
  }
  if (comparisons.length) {
    lines.push(
      "",
      `BitRouter vs floor (SPEC §9: ≥ ${
        THROUGHPUT_MIN * 100
      }% throughput, ≤ ${ADDED_P50_MAX_US} µs ` +
        "added p50 at 1 conn)",
    );
    lines.push(table(
      [
        ["kind", "conns", "throughput", "added p50", "verdict"],
        ...comparisons.map((c) => {
          const bad = [
            c.throughput_ok ? "" : `throughput below ${THROUGHPUT_MIN * 100}%`,
            c.latency_ok === false ? `added p50 over ${ADDED_P50_MAX_US} µs` : "",
            c.errors_ok ? "" : "errors",
          ].filter(Boolean);
          return [
            c.kind,
            String(c.conns),
            `${(c.throughput_ratio * 100).toFixed(1)}%`,
            `${c.added_p50_us >= 0 ? "+" : ""}${Math.round(c.added_p50_us)} µs`,
            bad.length ? `MISS: ${bad.join(", ")}` : "ok",
          ];
        }),
      ],
      [false, true, true, true, false],
    ));
  }
  if (input.portkey.length) lines.push("", portkeyReport(input.portkey));
  if (translation.length) lines.push("", translationReport(translation));
  const memory = memoryReport(input.memory);
  if (memory) lines.push("", memory);
  if (input.compile) lines.push("", compileReport(input.compile));
  return lines.join("\n");
}

/** The load runs as a table. */
function loadTable(results: Result[]): string {
  return table(
    [
      ["target", "conns", "kind", "req/s", "p50", "p99", "errors"],
      ...results.map((r) => [
        r.target,
        String(r.conns),
        r.kind,
        fmtInt(r.rps),
        fmtUs(r.p50_us),
        fmtUs(r.p99_us),
        r.errors ? `${r.errors} !` : "0",
      ]),
    ],
    [false, true, false, true, true, true, true],
  );
}

/** BitRouter against Portkey, as text. */
function portkeyReport(comparisons: PortkeyComparison[]): string {
  return [
    `BitRouter vs Portkey's gateway (SPEC §9: ≥ ${PORTKEY_RATIO_MIN}× its throughput)`,
    table(
      [
        ["kind", "conns", "portkey req/s", "bitrouter req/s", "ratio", "verdict"],
        ...comparisons.map((c) => [
          c.kind,
          String(c.conns),
          fmtInt(c.portkey_rps),
          fmtInt(c.bitrouter_rps),
          `${c.ratio.toFixed(1)}×`,
          c.ok ? "ok" : `MISS: below ${PORTKEY_RATIO_MIN}×`,
        ]),
      ],
      [false, true, true, true, true, false],
    ),
  ].join("\n");
}

/** The translation runs and their costs, as text. */
export function translationReport(results: TranslationResult[]): string {
  const [short, long] = ["short", "long"].map((l) =>
    results.find((r) => r.length === l)?.upstream_events
  );
  const lines = [
    `Translated path: a Messages client streaming from the chat upstream, vs a chat client ` +
    `(passthrough); streams of ${short} and ${long} upstream events`,
    table(
      [
        ["path", "events", "conns", "req/s", "p50", "p99", "errors"],
        ...results.map((r) => [
          r.path,
          String(r.upstream_events),
          String(r.conns),
          fmtInt(r.rps),
          fmtUs(r.p50_us),
          fmtUs(r.p99_us),
          r.errors ? `${r.errors} !` : "0",
        ]),
      ],
      [false, true, true, true, true, true, true],
    ),
  ];
  const us = (n: number) => `${n.toFixed(1)} µs`;
  const signed = (n: number, text: string) => (n >= 0 ? "+" : "") + text;
  for (const c of translationCosts(results)) {
    lines.push(
      `c=${c.conns}: per upstream event (p50 slope) ${
        us(c.translated_per_event_us)
      } translated vs ` +
        `${us(c.passthrough_per_event_us)} passthrough ` +
        `(${signed(c.added_per_event_us, us(c.added_per_event_us))}); short stream ` +
        `${signed(c.short_added_p50_us, `${Math.round(c.short_added_p50_us)} µs`)} p50; ` +
        `throughput ${(c.short_throughput_ratio * 100).toFixed(1)}% (short), ` +
        `${(c.long_throughput_ratio * 100).toFixed(1)}% (long) of passthrough`,
    );
  }
  return lines.join("\n");
}

/** The memory figures that were measured, as text; "" when none were. */
export function memoryReport(m: MemoryFigures): string {
  const lines: string[] = [];
  const verdict = (ok: boolean, miss: string) => ok ? "ok" : `MISS: ${miss}`;
  if (m.start) {
    const runs = (ms: number[]) => `${ms.map((x) => x.toFixed(0)).join(", ")} ms`;
    const b = m.start.binary;
    lines.push(
      `start to ready line (discovery off): \`deno run main.ts serve\` median ` +
        `${m.start.median_ms.toFixed(0)} ms of ${m.start.runs_ms.length} runs ` +
        `(${runs(m.start.runs_ms)})` +
        (b ? `; ${b.path} median ${b.median_ms.toFixed(0)} ms (${runs(b.runs_ms)})` : "") +
        `; budget ≤ ${m.start.max_ms} ms${b ? " (the binary)" : ""}: ` +
        verdict(m.start.ok, "too slow"),
    );
  }
  if (m.idle) {
    lines.push(
      `idle RSS: BitRouter ${fmtKiB(m.idle.bitrouter_kib)}, bare floor ${
        fmtKiB(m.idle.floor_kib)
      } ` +
        `(median of ${m.idle.runs} fresh starts, after one request of each kind): ` +
        `${m.idle.ratio.toFixed(2)}×; budget ≤ ${m.idle.max_ratio}×: ${
          verdict(m.idle.ok, "over budget")
        }`,
    );
  }
  if (m.streams) {
    const s = m.streams;
    lines.push(
      `RSS with ${fmtInt(s.streams)} streams open at once: BitRouter ${fmtKiB(s.bitrouter_kib)} ` +
        `(from ${fmtKiB(s.bitrouter_idle_kib)} idle)` +
        (s.floor_kib !== null ? `, bare floor ${fmtKiB(s.floor_kib)} for scale` : "") +
        `; budget ≤ ${s.max_mib} MiB: ${verdict(s.ok, "over budget")}` +
        (s.errors ? `; ${s.errors} streams failed !` : ""),
    );
  }
  const d = m.drift;
  if (d) {
    lines.push(
      `BitRouter RSS: ${fmtInt(d.ready_kib)} KiB at start, ${fmtInt(d.before_kib)} KiB ` +
        `after ${d.warmed_by}, ${fmtInt(d.after_kib)} KiB after ` +
        `${fmtInt(d.requests_between)} more requests ` +
        `(${d.growth_kib >= 0 ? "+" : ""}${fmtInt(d.growth_kib)} KiB, ` +
        `${d.growth_pct.toFixed(1)}%): ${
          d.flat ? "flat" : `MISS: grew more than ${d.max_growth_pct}%`
        }`,
    );
    if (d.rounds.length > 2) {
      lines.push(
        "RSS after each round (requests so far: KiB): " +
          d.rounds.map((r) => `${fmtInt(r.requests)}: ${fmtInt(r.rss_kib)}`).join(", "),
      );
    }
    if (d.floor_ready_kib !== null && d.floor_end_kib !== null) {
      lines.push(
        `floor RSS for scale: ${fmtInt(d.floor_ready_kib)} KiB at start, ` +
          `${fmtInt(d.floor_end_kib)} KiB at the end`,
      );
    }
  }
  return lines.join("\n");
}

/** What the compile task embeds, as text. */
export function compileReport(c: CompileSize): string {
  const lines = [`deno task compile: ${c.flags}`];
  if (c.binary) {
    lines.push(
      `${c.binary.path}: ${fmtMB(c.binary.bytes)} (built ${
        c.binary.modified ?? "at an unknown time"
      })`,
    );
  }
  if (c.embedded) {
    const e = c.embedded;
    lines.push(
      `embedded by the task's flags: ${fmtMB(e.files_bytes)} of files` +
        (e.npm_bytes !== null ? `, of which npm packages ${fmtMB(e.npm_bytes)}` : "") +
        (e.npm_packages.length ? ` (${e.npm_packages.join(", ")})` : "") +
        (e.binary_bytes !== null ? `; binary ${fmtMB(e.binary_bytes)}` : "") +
        ` — ${e.how}`,
    );
  }
  if (c.graph) {
    lines.push(
      `module graph of main.ts and its --include modules: ${fmtInt(c.graph.modules)} local ` +
        `modules ${fmtMB(c.graph.local_bytes)}, npm packages ${fmtMB(c.graph.npm_bytes)} ` +
        `(${c.graph.npm_packages.join(", ")}); the whole node_modules/ is ${
          fmtMB(c.graph.node_modules_bytes)
        }`,
    );
  }
  if (c.error) lines.push(`(${c.error})`);
  return lines.join("\n");
}
