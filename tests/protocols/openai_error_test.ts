import assert from "node:assert/strict";
import { responsesViaChat } from "../../src/protocols/responses/via_chat.ts";

const envelope = (message: string, type: string, code: unknown = null, param: unknown = null) => ({
  error: { message, type, code, param },
});

Deno.test("an OpenAI-shaped error passes through with its fields", () => {
  const body = envelope(
    "Unknown parameter: 'foo'.",
    "invalid_request_error",
    "unknown_parameter",
    "foo",
  );
  assert.deepEqual(responsesViaChat.error(400, body), body);
});

Deno.test("other shapes become the OpenAI envelope with the message kept", () => {
  // vLLM with a wrong --api-key
  assert.deepEqual(
    responsesViaChat.error(401, { error: "Unauthorized" }),
    envelope("Unauthorized", "authentication_error"),
  );
  // FastAPI validation error (vLLM, LM Studio proxies)
  assert.deepEqual(
    responsesViaChat.error(422, { detail: [{ loc: ["body", "messages"], msg: "field required" }] }),
    envelope("field required", "invalid_request_error"),
  );
  // vLLM's numeric code is kept as sent
  assert.deepEqual(
    responsesViaChat.error(404, {
      error: { message: "model x", type: "NotFoundError", code: 404 },
    }),
    envelope("model x", "NotFoundError", 404),
  );
  // Anthropic's envelope
  assert.deepEqual(
    responsesViaChat.error(529, {
      type: "error",
      error: { type: "overloaded_error", message: "Overloaded" },
    }),
    envelope("Overloaded", "overloaded_error"),
  );
});

Deno.test("plain text and HTML bodies become a readable message", () => {
  assert.deepEqual(
    responsesViaChat.error(502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    envelope("502 Bad Gateway", "server_error"),
  );
  assert.deepEqual(
    responsesViaChat.error(500, ""),
    envelope("the upstream answered 500 without saying why", "server_error"),
  );
});
