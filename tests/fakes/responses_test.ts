import assert from "node:assert/strict";
import OpenAI from "openai";
import { startFakeResponses } from "./responses.ts";

const client = (baseURL: string, apiKey = "sk-fake") =>
  new OpenAI({ apiKey, baseURL, maxRetries: 0 });

Deno.test("fake responses: a whole answer parses in the openai SDK, output_text included", async () => {
  const fake = await startFakeResponses({ apiKey: "sk-fake" });
  try {
    const response = await client(fake.apiBase).responses.create({
      model: "gpt-5-mini",
      instructions: "Be brief.",
      input: "Say hello",
    });
    assert.match(response.id, /^resp_/);
    assert.equal(response.status, "completed");
    assert.equal(response.output_text, "Hello from responses");
    assert.equal(response.usage?.total_tokens, 18);
    assert.equal(fake.requests.length, 1);
    assert.equal(fake.requests[0].headers.get("authorization"), "Bearer sk-fake");
    assert.equal(fake.requests[0].body.instructions, "Be brief.");
  } finally {
    await fake.close();
  }
});

Deno.test("fake responses: a streamed text answer is the API's event sequence, numbered from 0", async () => {
  const fake = await startFakeResponses({ content: ["One", " two"] });
  try {
    const stream = await client(fake.apiBase).responses.create({
      model: "gpt-5-mini",
      input: "count",
      stream: true,
    });
    const events = [];
    for await (const event of stream) events.push(event);
    assert.deepEqual(events.map((e) => e.type), [
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
  } finally {
    await fake.close();
  }
});

Deno.test("fake responses: a scripted function call streams its arguments over several deltas", async () => {
  const fake = await startFakeResponses({
    functionCall: { name: "shell", arguments: ['{"command":', '["ls",', '"-la"]}'] },
  });
  try {
    const runner = client(fake.apiBase).responses.stream({
      model: "gpt-5-mini",
      input: "list files",
    });
    const deltas: string[] = [];
    runner.on("response.function_call_arguments.delta", (e) => deltas.push(e.delta));
    const final = await runner.finalResponse();
    assert.deepEqual(deltas, ['{"command":', '["ls",', '"-la"]}']);
    const call = final.output[0];
    assert.ok(call.type === "function_call");
    assert.equal(call.name, "shell");
    assert.deepEqual(JSON.parse(call.arguments), { command: ["ls", "-la"] });
    assert.match(call.call_id, /^call_/);
  } finally {
    await fake.close();
  }
});

Deno.test("fake responses: a wrong key is a 401 in OpenAI's envelope (AuthenticationError)", async () => {
  const fake = await startFakeResponses({ apiKey: "sk-right" });
  try {
    await assert.rejects(
      client(fake.apiBase, "sk-wrong").responses.create({ model: "gpt-5-mini", input: "hi" }),
      (e: unknown) =>
        e instanceof OpenAI.AuthenticationError && e.status === 401 && e.code === "invalid_api_key",
    );
  } finally {
    await fake.close();
  }
});

Deno.test("fake responses: previous_response_id continues a stored conversation; unknown ids are a 400", async () => {
  const fake = await startFakeResponses();
  try {
    const openai = client(fake.apiBase);
    const first = await openai.responses.create({ model: "gpt-5-mini", input: "My name is Ana." });
    await openai.responses.create({
      model: "gpt-5-mini",
      input: "And my name?",
      previous_response_id: first.id,
    });
    const conversation = fake.requests[1].conversation as Array<{ type: string; role: string }>;
    assert.deepEqual(conversation.map((i) => `${i.type}:${i.role}`), [
      "message:user",
      "message:assistant",
      "message:user",
    ]);
    // store: false is not kept, so it cannot be continued.
    const unstored = await openai.responses.create({
      model: "gpt-5-mini",
      input: "x",
      store: false,
    });
    await assert.rejects(
      openai.responses.create({
        model: "gpt-5-mini",
        input: "y",
        previous_response_id: unstored.id,
      }),
      (e: unknown) =>
        e instanceof OpenAI.BadRequestError && e.param === "previous_response_id" &&
        /not found/.test(e.message),
    );
  } finally {
    await fake.close();
  }
});
