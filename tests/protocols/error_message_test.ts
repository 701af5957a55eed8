import assert from "node:assert/strict";
import { errorMessageOf, upstreamMessageOf } from "../../src/protocols/error_message.ts";

Deno.test("an upstream error's message is found in every envelope servers use", () => {
  const cases: Array<[unknown, string]> = [
    [{ error: { message: "model 'x' not found", type: "not_found_error" } }, "model 'x' not found"],
    [{ type: "error", error: { type: "overloaded_error", message: "Overloaded" } }, "Overloaded"],
    [{ error: "Unauthorized" }, "Unauthorized"],
    [{ message: "rate limited" }, "rate limited"],
    [{ detail: "Not Found" }, "Not Found"],
    [{ detail: [{ msg: "field required" }, { msg: "bad value" }] }, "field required; bad value"],
    // A blank message says nothing; the next place that might is read instead.
    [{ error: { message: " " }, message: "try later" }, "try later"],
    ["404 page not found\n", "404 page not found"],
  ];
  for (const [body, message] of cases) assert.equal(upstreamMessageOf(body), message);
});

Deno.test("an HTML error page is reduced to its title or text; other text keeps its angle brackets", () => {
  const page = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n" +
    "</html>\r\n";
  assert.equal(upstreamMessageOf(page), "502 Bad Gateway");
  const untitled =
    "<html><body><h1>Service Unavailable</h1><p>Try again &amp; wait.</p></body></html>";
  assert.equal(upstreamMessageOf(untitled), "Service Unavailable Try again & wait.");
  assert.equal(upstreamMessageOf("expected <model> in the body"), "expected <model> in the body");
});

Deno.test("a long text is cut, and a body that says nothing names the status", () => {
  const long = upstreamMessageOf("x".repeat(2_000));
  assert.equal(long, "x".repeat(500) + "…");
  for (const body of ["", "   ", "<html><body></body></html>", {}, null, 42, { error: {} }]) {
    assert.equal(upstreamMessageOf(body), undefined, JSON.stringify(body));
    assert.equal(errorMessageOf(503, body), "the upstream answered 503 without saying why");
  }
});
