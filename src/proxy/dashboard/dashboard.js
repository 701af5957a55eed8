// BitRouter's dashboard: plain browser JavaScript, no build step, no other host. It reads
// GET /v1/bitrouter/events (server-sent events over fetch, so it can send the key) and draws
// with the DOM (textContent only: names come from model servers) and small SVG charts.
"use strict";

const EVENTS = "/v1/bitrouter/events";
const KEY = "bitrouter.key";
const MAX_RECENT = 100;
const SVG = "http://www.w3.org/2000/svg";

const state = { status: null, recent: [], fresh: new Set() };
let key = sessionStorage.getItem(KEY);
let stream = null;

const $ = (id) => document.getElementById(id);

/** An element with text and attributes; children appended in order. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function setLive(text, ok) {
  const live = $("live");
  live.textContent = text;
  live.className = ok ? "live ok" : "live bad";
}

function clock(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString([], { hour12: false });
}

function ago(iso) {
  const secs = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (secs < 90) return `${secs}s`;
  if (secs < 5400) return `${Math.round(secs / 60)} min`;
  if (secs < 172800) return `${Math.round(secs / 3600)} h`;
  return `${Math.round(secs / 86400)} days`;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function ms(v) {
  if (v === null || v === undefined) return "–";
  return v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(1)} s`;
}

function tokens(n) {
  if (n === null || n === undefined) return "?";
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

function usd(v) {
  if (v === null || v === undefined) return "–";
  if (v === 0) return "$0";
  return v < 0.01 ? `$${v.toFixed(6)}` : `$${v.toFixed(2)}`;
}

// ---- providers -------------------------------------------------------------------------------

function capacityOf(status, id) {
  return status.capacity?.endpoints?.filter((c) =>
    c.provider === id || c.provider.startsWith(`${id}#`)
  ) ?? [];
}

function renderProviders(status) {
  const box = $("providers");
  const cards = (status.providers ?? []).map((p) => {
    const stateText = p.state === "up"
      ? `up ${ago(p.since)}`
      : p.state === "down"
      ? "down"
      : "inactive";
    const card = el(
      "article",
      { class: "card provider", "data-provider": p.id, "data-state": p.state },
      el(
        "header",
        {},
        el("h3", {}, p.id),
        el("span", { class: `state ${p.state}` }, stateText),
      ),
      el(
        "p",
        { class: "muted" },
        [p.kind ?? (p.local ? "local" : "hosted"), p.protocol, p.source].join(" · "),
      ),
      el("p", { class: "addr" }, p.api_base),
    );
    if (p.reason) card.append(el("p", { class: `reason ${p.state}` }, p.reason));
    for (const c of capacityOf(status, p.id)) {
      const parts = [`${c.in_flight} / ${c.max_concurrent ?? "∞"} in flight`];
      for (const w of c.rate_limits ?? []) {
        if (w.requests_per_minute !== null) {
          parts.push(`${w.pattern}: ${w.requests}/${w.requests_per_minute} rpm`);
        }
        if (w.tokens_per_minute !== null) {
          parts.push(`${w.pattern}: ${w.tokens}/${w.tokens_per_minute} tpm`);
        }
      }
      const who = c.provider === p.id ? "" : `${c.provider.slice(p.id.length + 1)}: `;
      card.append(el("p", { class: "capacity" }, who + parts.join(", ")));
    }
    const endpoints = (status.endpoints ?? []).filter((e) =>
      e.provider === p.id || e.provider.startsWith(`${p.id}#`)
    );
    const loaded = p.loaded === "all" ? null : new Set(p.loaded ?? []);
    const list = el("ul", { class: "models" });
    for (const m of p.models.slice(0, 12)) {
      const isLoaded = p.loaded === "all" || loaded?.has(m);
      list.append(el("li", { class: isLoaded ? "loaded" : "" }, m, isLoaded ? " (loaded)" : ""));
    }
    if (p.models.length > 12) {
      list.append(el("li", { class: "muted" }, `+${p.models.length - 12} more`));
    }
    if (p.models.length) {
      card.append(el("p", { class: "muted" }, plural(p.models.length, "model")), list);
    }
    if (endpoints.length) {
      const health = el("ul", { class: "health" });
      for (const e of endpoints) {
        const what = e.state === "cooling"
          ? `cooling ${e.cooling_for_secs}s after ${plural(e.consecutive_failures, "failure")}: ${
            e.last_error ?? ""
          }`
          : e.state === "probing"
          ? "probing after its cooldown"
          : e.state === "half_open"
          ? "cooled down, next request probes it"
          : e.consecutive_failures
          ? `healthy (${e.consecutive_failures} failed: ${e.last_error ?? ""})`
          : "healthy";
        const cls = e.state === "half_open"
          ? "probing"
          : e.state === "healthy" && e.consecutive_failures
          ? "failing"
          : e.state;
        health.append(
          el("li", { class: `endpoint ${cls}`, "data-model": e.model }, `${e.model}: `, what),
        );
      }
      card.append(el("p", { class: "muted" }, "Endpoints"), health);
    }
    return card;
  });
  if (cards.length === 0) cards.push(el("p", { class: "muted" }, "No providers."));
  box.replaceChildren(...cards);
  const queued = status.capacity?.queued ?? 0;
  $("queue").textContent = `${(status.providers ?? []).filter((p) => p.state === "up").length} of ${
    (status.providers ?? []).length
  } providers up; ${queued} request${queued === 1 ? "" : "s"} queued.`;
}

function renderVirtual(status) {
  const box = $("virtual");
  const items = (status.virtual_models ?? []).map((v) => {
    const order = el("ol", { class: "order" });
    for (const o of v.order) {
      order.append(
        el(
          "li",
          { class: o.state, "data-provider": o.provider },
          `${o.provider}: ${o.model}`,
          o.state === "healthy" ? "" : ` — ${o.reason ?? o.state}`,
        ),
      );
    }
    return el(
      "div",
      { class: "virtual", "data-model": v.name },
      el("h3", {}, `${v.name} (${v.strategy})`),
      order,
    );
  });
  if (items.length === 0) {
    items.push(el("p", { class: "muted" }, "None: add a models: block to the config to name one."));
  }
  box.replaceChildren(...items);
}

// ---- requests --------------------------------------------------------------------------------

function renderRecent() {
  const rows = state.recent.map((r) => {
    const served = r.provider ? `${r.provider}: ${r.upstream_model ?? ""}` : "–";
    const status = r.error ? `${r.status} ${r.error}` : String(r.status);
    return el(
      "tr",
      { class: state.fresh.has(r.request_id) ? "fresh" : "", "data-id": r.request_id },
      el("td", {}, clock(r.time)),
      el("td", {}, r.protocol),
      el("td", {}, r.model ?? "–"),
      el("td", {}, served, r.local === true ? " (local)" : ""),
      el("td", { class: r.status >= 400 ? "error" : "" }, status.slice(0, 80)),
      el("td", { class: "num" }, r.attempts),
      el("td", { class: "num" }, `${ms(r.queued_ms)} / ${ms(r.ttfb_ms)} / ${ms(r.total_ms)}`),
      el("td", { class: "num" }, `${tokens(r.input_tokens)} / ${tokens(r.output_tokens)}`),
      el("td", { class: "num" }, usd(r.cost_usd)),
    );
  });
  if (rows.length === 0) {
    rows.push(el("tr", {}, el("td", { colspan: 9, class: "muted" }, "No requests yet.")));
  }
  document.querySelector("#requests tbody").replaceChildren(...rows);
  state.fresh.clear();
}

// ---- usage -----------------------------------------------------------------------------------

function chart(id, points, label) {
  const box = $(id);
  const width = 600;
  const height = 120;
  const max = Math.max(1, ...points.map((p) => p.local_tokens + p.hosted_tokens));
  const step = width / Math.max(points.length, 1);
  const gap = Math.min(2, step / 4);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  const total = points.reduce((n, p) => n + p.local_tokens + p.hosted_tokens, 0);
  svg.setAttribute("aria-label", `${label}: ${total} tokens in all`);
  box.dataset.totalTokens = String(total);
  points.forEach((p, i) => {
    const g = document.createElementNS(SVG, "g");
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${
      label === "hourly" ? clock(p.start) : p.start.slice(0, 10)
    }: ${p.local_tokens} local, ${p.hosted_tokens} hosted tokens; hosted cost ${
      usd(p.hosted_cost_usd)
    }, saved ${usd(p.saved_usd)}`;
    g.append(title);
    let y = height;
    for (const [cls, value] of [["local", p.local_tokens], ["hosted", p.hosted_tokens]]) {
      if (value <= 0) continue;
      const h = Math.max(1, (value / max) * (height - 4));
      y -= h;
      const rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("class", cls);
      rect.setAttribute("x", String(i * step + gap / 2));
      rect.setAttribute("y", String(y));
      rect.setAttribute("width", String(Math.max(1, step - gap)));
      rect.setAttribute("height", String(h));
      g.append(rect);
    }
    svg.append(g);
  });
  const first = points[0]?.start;
  const last = points.at(-1)?.start;
  const name = (iso) => label === "hourly" ? clock(iso).slice(0, 5) : iso.slice(5, 10);
  box.replaceChildren(
    svg,
    el(
      "div",
      { class: "axis" },
      el("span", {}, first ? name(first) : ""),
      el("span", {}, total ? `tallest bar ${tokens(max)} tokens` : "no tokens yet"),
      el("span", {}, last ? (label === "hourly" ? `${name(last)} (now)` : "today") : ""),
    ),
  );
}

function renderUsage(status) {
  const u = status.usage;
  const summary = $("usage-summary");
  for (const part of document.querySelectorAll("#usage-title ~ figure, #usage-title ~ .legend")) {
    part.hidden = !u;
  }
  if (!u) {
    summary.textContent = "Usage is not recorded (usage: false), or the store cannot be read.";
    return;
  }
  const line = (name, t) =>
    `${name}: ${tokens(t.local_tokens)} local tokens, ${tokens(t.hosted_tokens)} hosted (${
      usd(t.hosted_cost_usd)
    }); local saved ${usd(t.saved_usd)}`;
  summary.textContent = u.pending
    ? "Reading the usage store…"
    : `${line("Today", u.today)}. ${line("Last 7 days", u.week)}.`;
  chart("chart-hourly", u.hourly, "hourly");
  chart("chart-daily", u.daily, "daily");
}

function render() {
  const s = state.status;
  if (!s) return;
  $("version").textContent = `v${s.version}`;
  $("config").textContent = s.config ? `· ${s.config}` : "· zero-config";
  renderProviders(s);
  renderVirtual(s);
  renderRecent();
  renderUsage(s);
}

// ---- the event stream ------------------------------------------------------------------------

function onEvent(type, data) {
  if (type === "status") {
    const status = JSON.parse(data);
    if (Array.isArray(status.recent)) state.recent = status.recent;
    state.status = status;
    render();
  } else if (type === "request") {
    const r = JSON.parse(data);
    state.recent.unshift(r);
    state.recent.length = Math.min(state.recent.length, MAX_RECENT);
    state.fresh.add(r.request_id);
    renderRecent();
  }
}

function askForKey(wrong) {
  $("auth").hidden = false;
  $("auth-why").textContent = wrong
    ? "That key was refused. Enter one of server.api_keys; it is kept for this tab only and never shown."
    : "This BitRouter asks for a key (server.api_keys). It is kept for this tab only and never shown.";
  setLive("needs a key", false);
  $("key").focus();
}

function wait(msecs) {
  return new Promise((resolve) => setTimeout(resolve, msecs));
}

async function follow() {
  if (stream) stream.abort();
  const controller = new AbortController();
  stream = controller;
  for (let failures = 0; !controller.signal.aborted;) {
    const headers = { accept: "text/event-stream" };
    if (key) headers.authorization = `Bearer ${key}`;
    let res;
    try {
      res = await fetch(EVENTS, { headers, cache: "no-store", signal: controller.signal });
    } catch {
      if (controller.signal.aborted) return;
      failures++;
      setLive("BitRouter is not answering; retrying…", false);
      await wait(Math.min(10_000, 1000 * failures));
      continue;
    }
    if (res.status === 401) {
      await res.body?.cancel();
      const hadKey = key !== null;
      key = null;
      sessionStorage.removeItem(KEY);
      askForKey(hadKey);
      return;
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      failures++;
      const after = Number(res.headers.get("retry-after"));
      setLive(`BitRouter answered ${res.status}; retrying…`, false);
      await wait(
        Number.isFinite(after) && after > 0 ? after * 1000 : Math.min(10_000, 1000 * failures),
      );
      continue;
    }
    failures = 0;
    $("auth").hidden = true;
    setLive("live", true);
    try {
      await readEvents(res.body, onEvent);
    } catch {
      // The stream broke (BitRouter restarted or stopped): reconnect below.
    }
    if (controller.signal.aborted) return;
    setLive("reconnecting…", false);
    await wait(1000);
  }
}

/** Reads a text/event-stream body, calling onEvent(type, data) for each event. */
async function readEvents(body, handle) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let type = "message";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let nl;
    while ((nl = buffer.search(/\r?\n/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer[nl] === "\r" ? 2 : 1));
      if (line === "") {
        if (data.length) handle(type, data.join("\n"));
        type = "message";
        data = [];
      } else if (line.startsWith(":")) {
        continue;
      } else {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") type = val;
        else if (field === "data") data.push(val);
      }
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("key");
    const value = input.value.trim();
    input.value = "";
    if (!value) return;
    key = value;
    sessionStorage.setItem(KEY, value);
    $("auth").hidden = true;
    setLive("connecting…", false);
    follow();
  });
  // "up 5 min" and the like stay true between events.
  setInterval(() => {
    if (state.status) renderProviders(state.status);
  }, 30_000);
  // With auth on (the page says so), ask first rather than make a call that fails.
  if (!key && document.documentElement.dataset.auth === "key") askForKey(false);
  else follow();
});
