/**
 * The translated Responses answers, fed to the official openai SDK as if BitRouter had sent them:
 * the SDK must parse every event, rebuild the same response, and raise when the stream failed.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { responsesViaChat } from "../../src/protocols/responses/via_chat.ts";
import { encodeSse, type SseEvent } from "../../src/protocols/translation.ts";
import { readFixture, testContext } from "./responses_golden.ts";

type Body = Record<string, unknown>;
type StreamingParams = OpenAI.Responses.ResponseCreateParamsStreaming;
type Params = OpenAI.Responses.ResponseCreateParamsNonStreaming;
type StreamParams = Parameters<OpenAI["responses"]["stream"]>[0];

/** A fixture's request as the SDK's parameter type (fixtures are plain JSON). */
function as<T>(body: Body): T {
  return body as unknown as T;
}

/** A client whose every request is answered with body (SSE text or JSON), recording the request. */
function clientAnswering(body: string, contentType: string, seen: Body[] = []): OpenAI {
  return new OpenAI({
    apiKey: "sk-test",
    baseURL: "http://bitrouter.test/v1",
    maxRetries: 0,
    fetch: (_url: string | URL | Request, init?: RequestInit) => {
      seen.push(JSON.parse(String(init?.body)));
      return Promise.resolve(new Response(body, { headers: { "content-type": contentType } }));
    },
  });
}

/** The SSE text the translator makes of a fixture's upstream chunks, optionally failing after n. */
function translatedStream(name: string, failAfter?: number): { sse: string; request: Body } {
  const fixture = readFixture(name);
  const ctx = testContext();
  responsesViaChat.request(fixture.request as Body, ctx);
  const stream = responsesViaChat.stream(ctx);
  const upstream = fixture.upstream as string[];
  const events: SseEvent[] = [];
  for (const data of upstream.slice(0, failAfter ?? upstream.length)) {
    events.push(...stream.push({ data }));
  }
  events.push(...(stream.finished ? stream.end() : stream.fail("upstream connection reset")));
  return { sse: events.map(encodeSse).join(""), request: fixture.request as Body };
}

Deno.test("SDK stream: responses.create({stream:true}) yields every translated event, ending in response.completed", async () => {
  const { sse, request } = translatedStream("responses_stream_tool_calls.json");
  const client = clientAnswering(sse, "text/event-stream");
  const stream = await client.responses.create(as<StreamingParams>({ ...request, stream: true }));
  const types: string[] = [];
  for await (const event of stream) {
    assert.equal(event.sequence_number, types.length);
    types.push(event.type);
  }
  assert.equal(types[0], "response.created");
  assert.equal(types.at(-1), "response.completed");
  assert.equal(types.filter((t) => t === "response.output_item.done").length, 4);
});

Deno.test("SDK stream: responses.stream() rebuilds the response: reasoning, text, custom and function calls", async () => {
  const { sse, request } = translatedStream("responses_stream_tool_calls.json");
  const client = clientAnswering(sse, "text/event-stream");
  const deltas: string[] = [];
  const runner = client.responses.stream(as<StreamParams>(request));
  runner.on("response.output_text.delta", (e) => deltas.push(e.delta));
  const final = await runner.finalResponse();
  assert.equal(final.status, "completed");
  assert.equal(final.output_text, "Patching now.");
  assert.deepEqual(deltas, ["Patching", " now."]);
  assert.deepEqual(final.output.map((o) => o.type), [
    "reasoning",
    "message",
    "custom_tool_call",
    "function_call",
  ]);
  const patch = final.output[2];
  assert.ok(patch.type === "custom_tool_call");
  assert.match(patch.input, /^\*\*\* Begin Patch\n/);
  const shell = final.output[3];
  assert.ok(shell.type === "function_call");
  assert.deepEqual(JSON.parse(shell.arguments), { command: ["bash", "-lc", "deno task ok"] });
  assert.equal(final.usage?.input_tokens_details.cached_tokens, 384);
});

Deno.test("SDK stream: a cut-off answer ends as an incomplete response the SDK accepts", async () => {
  const { sse, request } = translatedStream("responses_stream_length.json");
  const client = clientAnswering(sse, "text/event-stream");
  const final = await client.responses.stream(as<StreamParams>(request)).finalResponse();
  assert.equal(final.status, "incomplete");
  assert.deepEqual(final.incomplete_details, { reason: "max_output_tokens" });
  assert.equal(final.output_text, "Hello, nice to");
});

Deno.test("SDK stream: fail() makes responses.create({stream:true}) raise an APIError with the message", async () => {
  const { sse, request } = translatedStream("responses_stream_tool_calls.json", 6);
  const client = clientAnswering(sse, "text/event-stream");
  const stream = await client.responses.create(as<StreamingParams>({ ...request, stream: true }));
  const seen: string[] = [];
  await assert.rejects(
    async () => {
      for await (const event of stream) seen.push(event.type);
    },
    (e: unknown) => e instanceof OpenAI.APIError && /upstream connection reset/.test(e.message),
  );
  // Codex reads response.failed; the SDK raises on the error event after it.
  assert.equal(seen.at(-1), "response.failed");
});

Deno.test("SDK stream: fail() makes responses.stream() reject too", async () => {
  const { sse, request } = translatedStream("responses_stream_text.json", 3);
  const client = clientAnswering(sse, "text/event-stream");
  await assert.rejects(
    client.responses.stream(as<StreamParams>(request)).finalResponse(),
    (e: unknown) => e instanceof OpenAI.APIError && /upstream connection reset/.test(e.message),
  );
});

Deno.test("SDK stream: an upstream error chunk mid-stream raises in the SDK", async () => {
  const ctx = testContext();
  responsesViaChat.request({ model: "m", input: "hi", stream: true }, ctx);
  const stream = responsesViaChat.stream(ctx);
  const events = [
    ...stream.push({ data: JSON.stringify({ choices: [{ index: 0, delta: { content: "Hi" } }] }) }),
    ...stream.push({
      data: JSON.stringify({ error: { message: "CUDA out of memory", code: "server_error" } }),
    }),
  ];
  const client = clientAnswering(events.map(encodeSse).join(""), "text/event-stream");
  const sdkStream = await client.responses.create({ model: "m", input: "hi", stream: true });
  await assert.rejects(async () => {
    for await (const _ of sdkStream) { /* drain */ }
  }, /CUDA out of memory/);
});

Deno.test("SDK whole answer: responses.create() parses the translated object and derives output_text", async () => {
  const fixture = readFixture("responses_answer_tool_calls.json");
  const ctx = testContext();
  responsesViaChat.request(fixture.request as Body, ctx);
  const body = JSON.stringify(responsesViaChat.response(fixture.upstream, ctx));
  const client = clientAnswering(body, "application/json");
  const response = await client.responses.create(as<Params>(fixture.request as Body));
  assert.equal(response.id, "resp_4b1f0e9c2d7a4c559e0b3f6a8d2c1b77");
  assert.equal(response.output_text, "Patching src/add.ts.");
  assert.deepEqual(response.output.map((o) => o.type), [
    "reasoning",
    "message",
    "custom_tool_call",
    "function_call",
  ]);
});
