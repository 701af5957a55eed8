import assert from "node:assert/strict";
import {
  aggregateFailure,
  type Attempt,
  describeFetchError,
  isRetryable,
  readableErrorText,
} from "../../src/proxy/failover.ts";

Deno.test("failover happens on 401, 403, 404, 408, 409, 429 and every 5xx", () => {
  for (const s of [401, 403, 404, 408, 409, 429, 500, 502, 503, 504, 529]) {
    assert.ok(isRetryable(s), String(s));
  }
});

Deno.test("no failover on 400, 413, 422: the request itself is wrong", () => {
  for (const s of [400, 413, 422, 405, 415]) assert.ok(!isRetryable(s), String(s));
});

const a = (over: Partial<Attempt>): Attempt => ({
  provider: "p",
  kind: "status",
  detail: "",
  ...over,
});

Deno.test("all rate limited → 429 with the shortest Retry-After", () => {
  const f = aggregateFailure([
    a({ status: 429, retryAfter: "30" }),
    a({ status: 429, retryAfter: "7" }),
    a({ status: 429 }),
  ]);
  assert.deepEqual(f, {
    status: 429,
    type: "rate_limit_error",
    code: "rate_limit_exceeded",
    retryAfter: "7",
  });
});

Deno.test("all timed out → 504; any mix → 502", () => {
  assert.equal(aggregateFailure([a({ kind: "timeout" }), a({ kind: "timeout" })]).status, 504);
  assert.equal(aggregateFailure([a({ kind: "timeout" }), a({ status: 429 })]).status, 502);
  assert.equal(aggregateFailure([a({ kind: "network" }), a({ status: 503 })]).status, 502);
});

Deno.test("nothing sent because no candidate speaks a protocol the endpoint reaches → 400 unsupported, not 502", () => {
  const only = aggregateFailure([a({ kind: "unsupported" })]);
  assert.deepEqual([only.status, only.code], [400, "unsupported"]);
  // One candidate was tried and failed: that is an upstream failure, 502 as before.
  assert.equal(aggregateFailure([a({ kind: "unsupported" }), a({ status: 503 })]).status, 502);
});

Deno.test("fetch errors read as what a user can act on", () => {
  assert.match(
    describeFetchError(
      new TypeError("error sending request: tcp connect error: Connection refused (os error 111)"),
    ).detail,
    /connection refused \(is the server running\?\)/,
  );
  assert.match(
    describeFetchError(new TypeError("dns error: failed to lookup address information")).detail,
    /DNS lookup failed/,
  );
  assert.equal(
    describeFetchError(new DOMException("no headers in 2s", "TimeoutError")).kind,
    "timeout",
  );
});

Deno.test("a refused connection is named from the cause of Deno's `fetch failed`", () => {
  // What Deno 2.9.6's fetch rejects with when nothing listens on the port.
  const refused = new TypeError("fetch failed", {
    cause: new Error(
      "error sending request for url (http://127.0.0.1:9/v1/chat/completions): client error (Connect): tcp connect error: Connection refused (os error 111)",
    ),
  });
  assert.deepEqual(describeFetchError(refused), {
    kind: "network",
    detail: "connection refused (is the server running?)",
  });
  const reset = new TypeError("fetch failed", {
    cause: new Error("client error (SendRequest): connection closed before message completed"),
  });
  assert.equal(describeFetchError(reset).detail, "connection reset");
});

Deno.test("every candidate answering 404 is a 404 model_not_found; 404 mixed with others is 502", () => {
  assert.deepEqual(aggregateFailure([a({ status: 404 }), a({ status: 404 })]), {
    status: 404,
    type: "invalid_request_error",
    code: "model_not_found",
  });
  assert.equal(aggregateFailure([a({ status: 404 }), a({ status: 503 })]).status, 502);
  assert.equal(aggregateFailure([a({ status: 404 }), a({ kind: "network" })]).status, 502);
});

Deno.test("an HTML error page is quoted by its title or visible text, never its markup, CSS or script", () => {
  const page = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>502 Bad Gateway | example.com | Cloudflare</title>
<style>body{font-family:-apple-system,sans-serif;margin:0}h1{color:#c00}</style>
<script>window._cf_chl_opt={cvId:'3',cType:'non-interactive'};</script></head>
<body><h1>Bad gateway</h1><p>The web server reported a bad gateway error.</p></body></html>`;
  assert.equal(readableErrorText(page, 502), "Bad Gateway | example.com | Cloudflare");
  const untitled =
    "<html><head><style>p{margin:0}</style></head><body><h1>Internal Server Error</h1>" +
    "<script>track()</script><p>The server encountered an internal error &amp; gave up.</p></body></html>";
  assert.equal(
    readableErrorText(untitled, 500),
    "Internal Server Error The server encountered an internal error & gave up.",
  );
  assert.equal(readableErrorText("upstream connect error", 503), "upstream connect error");
  assert.equal(readableErrorText("x".repeat(500), 500).length, 300);
});
