import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { type FakeAnthropic, startFakeAnthropic } from "./anthropic.ts";

function sdk(fake: FakeAnthropic, apiKey = fake.apiKey): Anthropic {
  return new Anthropic({ apiKey, baseURL: fake.url, maxRetries: 0 });
}

const params = {
  model: "claude-sonnet-4-6",
  max_tokens: 256,
  messages: [{ role: "user" as const, content: "hi" }],
};

/** Reads an SSE body to its end: the `event:` names in order. */
async function eventNames(response: Response): Promise<string[]> {
  const text = await response.text();
  return [...text.matchAll(/^event: (.+)$/gm)].map((m) => m[1]);
}

function post(
  fake: FakeAnthropic,
  body: unknown,
  headers: Record<string, string>,
): Promise<Response> {
  return fetch(`${fake.apiBase}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

Deno.test("plain message: the SDK reads it; the request is recorded with its headers", async () => {
  const fake = await startFakeAnthropic();
  try {
    const message = await sdk(fake).messages.create(params);
    assert.equal(message.type, "message");
    assert.match(message.id, /^msg_/);
    assert.equal(message.model, "claude-sonnet-4-6");
    assert.deepEqual(message.content, [{ type: "text", text: "Hello from Claude" }]);
    assert.equal(message.stop_reason, "end_turn");
    assert.equal(message.usage.input_tokens, 25);
    assert.equal(fake.requests.length, 1);
    const [request] = fake.requests;
    assert.equal(request.path, "/v1/messages");
    // @anthropic-ai/sdk 1.x sends the key as a bearer token.
    assert.equal(request.headers.get("authorization"), `Bearer ${fake.apiKey}`);
    assert.ok(request.headers.get("anthropic-version"));
    assert.deepEqual(request.body, params);
  } finally {
    await fake.close();
  }
});

Deno.test("stream: the real event sequence, which the SDK assembles", async () => {
  const fake = await startFakeAnthropic({ answer: { type: "text", pieces: ["a", "b", "c"] } });
  try {
    const response = await post(fake, { ...params, stream: true }, {
      "x-api-key": fake.apiKey,
      "anthropic-version": "2023-06-01",
    });
    assert.match(response.headers.get("content-type")!, /^text\/event-stream/);
    assert.deepEqual(await eventNames(response), [
      "message_start",
      "ping",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const message = await sdk(fake).messages.stream(params).finalMessage();
    assert.deepEqual(message.content, [{ type: "text", text: "abc" }]);
    assert.equal(message.usage.output_tokens, 3);
  } finally {
    await fake.close();
  }
});

Deno.test("tool call: input_json_delta in several pieces; the SDK parses the input", async () => {
  const input = { city: "Paris", unit: "c", days: [1, 2, 3] };
  const fake = await startFakeAnthropic({
    answer: { type: "tool_use", name: "get_weather", input, text: "Checking.", chunks: 4 },
  });
  try {
    const events: string[] = [];
    const stream = sdk(fake).messages.stream(params);
    stream.on("streamEvent", (e) => {
      if (e.type === "content_block_delta") events.push(e.delta.type);
    });
    const message = await stream.finalMessage();
    assert.equal(message.stop_reason, "tool_use");
    assert.deepEqual(message.content.map((b) => b.type), ["text", "tool_use"]);
    const tool = message.content[1];
    assert.equal(tool.type === "tool_use" && tool.name, "get_weather");
    assert.deepEqual(tool.type === "tool_use" && tool.input, input);
    assert.equal(events.filter((t) => t === "input_json_delta").length, 5);
    const plain = (await sdk(fake).messages.create(params)).content.at(-1);
    assert.equal(plain?.type === "tool_use" && plain.name, "get_weather");
    assert.deepEqual(plain?.type === "tool_use" && plain.input, input);
  } finally {
    await fake.close();
  }
});

Deno.test("x-api-key is accepted; a wrong or missing key is the SDK's AuthenticationError", async () => {
  const fake = await startFakeAnthropic({ apiKey: "sk-ant-right" });
  try {
    await assert.rejects(
      sdk(fake, "sk-ant-wrong").messages.create(params),
      (e: unknown) =>
        e instanceof Anthropic.AuthenticationError && /invalid x-api-key/.test(e.message),
    );
    const response = await post(fake, params, { "anthropic-version": "2023-06-01" });
    assert.equal(response.status, 401);
    const ok = await post(fake, params, {
      "x-api-key": "sk-ant-right",
      "anthropic-version": "2023-06-01",
    });
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).type, "message");
    assert.deepEqual((await response.json()).error.type, "authentication_error");
  } finally {
    await fake.close();
  }
});

Deno.test("missing anthropic-version or max_tokens is a 400 invalid_request_error", async () => {
  const fake = await startFakeAnthropic();
  try {
    const noVersion = await post(fake, params, { "x-api-key": fake.apiKey });
    assert.equal(noVersion.status, 400);
    const body = await noVersion.json();
    assert.equal(body.type, "error");
    assert.equal(body.error.type, "invalid_request_error");
    assert.match(body.error.message, /anthropic-version/);
    assert.match(body.request_id, /^req_/);

    const { max_tokens: _, ...noMax } = params;
    const response = await post(fake, noMax, {
      "x-api-key": fake.apiKey,
      "anthropic-version": "2023-06-01",
    });
    assert.equal(response.status, 400);
    assert.deepEqual((await response.json()).error, {
      type: "invalid_request_error",
      message: "max_tokens: Field required",
    });
  } finally {
    await fake.close();
  }
});

Deno.test("faults: 429 with retry-after, 529 overloaded, as the SDK's typed errors", async () => {
  const fake = await startFakeAnthropic();
  try {
    fake.fault = { type: "rate_limit", retryAfterSecs: 7 };
    await assert.rejects(
      sdk(fake).messages.create(params),
      (e: unknown) =>
        e instanceof Anthropic.RateLimitError && e.headers?.get("retry-after") === "7",
    );
    fake.fault = { type: "overloaded" };
    await assert.rejects(
      sdk(fake).messages.create(params),
      (e: unknown) =>
        e instanceof Anthropic.APIError && e.status === 529 && /Overloaded/.test(e.message),
    );
    fake.fault = { type: "none" };
    assert.equal((await sdk(fake).messages.create(params)).type, "message");
  } finally {
    await fake.close();
  }
});

Deno.test("fault die_after: the stream breaks without message_stop and the SDK raises", async () => {
  const fake = await startFakeAnthropic();
  fake.fault = { type: "die_after", events: 4 };
  try {
    const stream = await sdk(fake).messages.create({ ...params, stream: true });
    const seen: string[] = [];
    await assert.rejects(async () => {
      for await (const e of stream) seen.push(e.type);
    });
    // ping is not an SDK event: message_start, content_block_start, one delta.
    assert.deepEqual(seen, ["message_start", "content_block_start", "content_block_delta"]);
  } finally {
    await fake.close();
  }
});

Deno.test("count_tokens answers input_tokens and needs no max_tokens", async () => {
  const fake = await startFakeAnthropic();
  try {
    const count = await sdk(fake).messages.countTokens({
      model: "claude-sonnet-4-6",
      messages: [{ role: "user", content: "hello there" }],
    });
    assert.equal(typeof count.input_tokens, "number");
    assert.ok(count.input_tokens > 0);
    assert.equal(fake.requests[0].path, "/v1/messages/count_tokens");
  } finally {
    await fake.close();
  }
});
