import assert from "node:assert/strict";
import { clientHeaders, stripHopByHop, upstreamHeaders } from "../../src/proxy/headers.ts";
import type { Provider } from "../../src/config/types.ts";
import { DEFAULT_TIMEOUTS } from "../../src/config/types.ts";

const provider = (over: Partial<Provider> = {}): Provider => ({
  id: "p",
  apiBase: "http://h/v1",
  protocolRules: [],
  defaultProtocol: "chat_completions",
  models: [],
  priority: 0,
  order: 0,
  headers: {},
  timeouts: DEFAULT_TIMEOUTS,
  autoDiscover: false,
  source: "config",
  ...over,
});

const client = new Headers({
  "content-type": "application/json",
  accept: "text/event-stream",
  "user-agent": "OpenAI/JS 7",
  authorization: "Bearer client-secret",
  "x-api-key": "client-secret-2",
  cookie: "session=1",
  host: "127.0.0.1:4356",
  "content-length": "42",
  connection: "keep-alive, x-hop",
  "x-hop": "1",
  "keep-alive": "timeout=5",
  "transfer-encoding": "chunked",
  "accept-encoding": "gzip",
  "anthropic-beta": "tools-2024",
  "x-stainless-lang": "js",
});

Deno.test("upstream headers drop the client's credentials, hop-by-hop headers, host and length", () => {
  const h = new Headers(upstreamHeaders(client, provider(), "chat_completions", "req-1"));
  for (
    const gone of [
      "authorization",
      "x-api-key",
      "cookie",
      "host",
      "content-length",
      "connection",
      "x-hop",
      "keep-alive",
      "transfer-encoding",
      "accept-encoding",
      "anthropic-beta",
    ]
  ) {
    assert.equal(h.get(gone), null, gone);
  }
  assert.equal(h.get("content-type"), "application/json");
  assert.equal(h.get("accept"), "text/event-stream");
  assert.equal(h.get("user-agent"), "OpenAI/JS 7");
  assert.equal(h.get("x-request-id"), "req-1");
  assert.equal(h.get("x-stainless-lang"), "js");
});

Deno.test("a provider key is sent as Bearer, and its extra headers are added", () => {
  const h = new Headers(upstreamHeaders(
    client,
    provider({ apiKey: "sk-1", headers: { "X-Title": "my-app" } }),
    "chat_completions",
    "r",
  ));
  assert.equal(h.get("authorization"), "Bearer sk-1");
  assert.equal(h.get("x-title"), "my-app");
});

Deno.test("a messages upstream gets x-api-key, anthropic-version and the client's anthropic-beta", () => {
  const h = new Headers(upstreamHeaders(client, provider({ apiKey: "ak" }), "messages", "r"));
  assert.equal(h.get("x-api-key"), "ak");
  assert.equal(h.get("anthropic-version"), "2023-06-01");
  assert.equal(h.get("anthropic-beta"), "tools-2024");
  assert.equal(h.get("authorization"), null);
});

Deno.test("client headers drop hop-by-hop, content-length and content-encoding", () => {
  const h = new Headers(clientHeaders(
    new Headers({
      "content-type": "text/event-stream",
      "content-length": "10",
      "content-encoding": "gzip",
      connection: "close",
      "x-ratelimit-remaining": "9",
    }),
  ));
  assert.deepEqual([...h.keys()].sort(), ["content-type", "x-ratelimit-remaining"]);
});

Deno.test("stripHopByHop also removes headers named by Connection", () => {
  const h = stripHopByHop(
    new Headers({ connection: "x-a, X-B", "x-a": "1", "x-b": "2", "x-c": "3" }),
  );
  assert.deepEqual([...h.keys()], ["x-c"]);
});

Deno.test("every set-cookie line of the upstream reaches the client, next to BitRouter's headers", () => {
  const h = new Headers(clientHeaders(
    new Headers([
      ["set-cookie", "a=1; Path=/"],
      ["set-cookie", "b=2; Path=/"],
      ["content-type", "application/json"],
    ]),
    { "x-request-id": "r-1" },
  ));
  assert.deepEqual(h.getSetCookie(), ["a=1; Path=/", "b=2; Path=/"]);
  assert.equal(h.get("x-request-id"), "r-1");
  assert.equal(h.get("content-type"), "application/json");
});

Deno.test("BitRouter's own headers replace an upstream's header of the same name", () => {
  const h = new Headers(clientHeaders(
    new Headers({ "x-request-id": "req_upstream", "content-type": "application/json" }),
    { "x-request-id": "mine" },
  ));
  assert.equal(h.get("x-request-id"), "mine");
});
