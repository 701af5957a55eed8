/**
 * End to end through the real CLI for the Responses API (what Codex speaks): the official
 * `openai` SDK's `responses` client against a fake Ollama (translated to Chat Completions), a
 * fake hosted Anthropic (translated through Chat Completions to Messages) and a fake Responses
 * upstream (passed through, stored conversations included).
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startFake } from "../fakes/upstream.ts";
import { startFakeAnthropic } from "../fakes/anthropic.ts";
import { startFakeResponses } from "../fakes/responses.ts";
import { startRouter } from "./helpers.ts";

Deno.test("Responses clients reach chat, Messages and Responses upstreams", async (t) => {
  const ollama = await startFake({ kind: "ollama", content: ["Hello", " from", " ollama"] });
  const coder = await startFake({
    kind: "ollama",
    models: ["qwen2.5-coder:latest"],
    toolCalls: [{ name: "shell", arguments: { command: ["ls", "-la"] } }],
  });
  const claude = await startFakeAnthropic({ apiKey: "sk-ant-e2e" });
  const hosted = await startFakeResponses({ apiKey: "sk-oai-e2e" });
  const router = await startRouter({
    config: `
providers:
  ollama:
    api_base: ${ollama.apiBase}
    models: [{ id: llama3.1, provider_model_id: "llama3.1:latest" }]
  coder:
    api_base: ${coder.apiBase}
    models: [{ id: qwen2.5-coder, provider_model_id: "qwen2.5-coder:latest" }]
  anthropic:
    api_base: ${claude.apiBase}
    api_key: sk-ant-e2e
    models: [claude-sonnet-4-5]
  oai:
    api_base: ${hosted.apiBase}
    api_key: sk-oai-e2e
    api_protocol: responses
    models: [gpt-5]
`,
  });
  const client = new OpenAI({ baseURL: router.apiBase, apiKey: "local", maxRetries: 0 });
  try {
    await t.step("plain: a local chat model answers as a Responses object", async () => {
      const r = await client.responses.create({
        model: "llama3.1",
        instructions: "Be brief.",
        input: "hi",
        store: false,
      });
      assert.equal(r.object, "response");
      assert.equal(r.status, "completed");
      assert.equal(r.output_text, "Hello from ollama");
      const sent = ollama.requests.at(-1)!;
      assert.equal(sent.path, "/v1/chat/completions");
      assert.deepEqual((sent.body as { messages: unknown[] }).messages, [
        { role: "system", content: "Be brief." },
        { role: "user", content: "hi" },
      ]);
    });

    await t.step("streamed: the full event sequence, text deltas as they come", async () => {
      const types: string[] = [];
      const deltas: string[] = [];
      for await (
        const e of await client.responses.create({ model: "llama3.1", input: "hi", stream: true })
      ) {
        types.push(e.type);
        if (e.type === "response.output_text.delta") deltas.push(e.delta);
      }
      assert.deepEqual(deltas, ["Hello", " from", " ollama"]);
      assert.equal(types[0], "response.created");
      assert.ok(types.includes("response.output_item.added"));
      assert.equal(types.at(-1), "response.completed");
    });

    await t.step("function tools: a streamed call comes back as a function_call item", async () => {
      const stream = client.responses.stream({
        model: "qwen2.5-coder",
        input: "list files",
        tools: [{
          type: "function",
          name: "shell",
          description: "Run a command",
          parameters: {
            type: "object",
            properties: { command: { type: "array", items: { type: "string" } } },
            required: ["command"],
          },
          strict: false,
        }],
      });
      const argDeltas: string[] = [];
      stream.on("response.function_call_arguments.delta", (e) => argDeltas.push(e.delta));
      const final = await stream.finalResponse();
      const call = final.output.find((o) => o.type === "function_call");
      assert.ok(call && call.type === "function_call");
      assert.equal(call.name, "shell");
      assert.deepEqual(JSON.parse(call.arguments), { command: ["ls", "-la"] });
      assert.ok(argDeltas.length > 1, "arguments streamed in pieces");

      // The round trip: the call and its output go back as chat tool messages.
      await client.responses.create({
        model: "qwen2.5-coder",
        input: [
          { role: "user", content: "list files" },
          {
            type: "function_call",
            call_id: call.call_id,
            name: "shell",
            arguments: call.arguments,
          },
          { type: "function_call_output", call_id: call.call_id, output: "main.ts" },
        ],
      });
      const sent = coder.requests.at(-1)!.body as { messages: Record<string, unknown>[] };
      assert.deepEqual(sent.messages.at(-1), {
        role: "tool",
        tool_call_id: call.call_id,
        content: "main.ts",
      });
    });

    await t.step("an unknown previous_response_id to a chat model is a 404 naming it", async () => {
      await assert.rejects(
        client.responses.create({ model: "llama3.1", input: "hi", previous_response_id: "resp_1" }),
        (e) =>
          e instanceof OpenAI.NotFoundError && /'resp_1' not found/.test(e.message) &&
          /input/.test(e.message),
      );
    });

    await t.step("a hosted Anthropic model answers a Responses client", async () => {
      const r = await client.responses.create({ model: "claude-sonnet-4-5", input: "hi" });
      assert.equal(r.output_text, "Hello from Claude");
      assert.equal(claude.requests.at(-1)!.path, "/v1/messages");
      assert.equal(claude.requests.at(-1)!.headers.get("x-api-key"), "sk-ant-e2e");
    });

    await t.step(
      "a Responses upstream is passed through, stored conversations included",
      async () => {
        const first = await client.responses.create({ model: "oai:gpt-5", input: "hi" });
        assert.equal(first.output_text, "Hello from responses");
        const second = await client.responses.create({
          model: "gpt-5",
          input: "again",
          previous_response_id: first.id,
        });
        assert.equal(second.status, "completed");
        const sent = hosted.requests.at(-1)!;
        assert.equal(sent.body.previous_response_id, first.id);
        assert.equal(sent.body.model, "gpt-5");
        assert.equal(sent.headers.get("authorization"), "Bearer sk-oai-e2e");
        assert.equal(sent.conversation.length, 3, "the stored turn was found upstream");
      },
    );

    await t.step("an unknown model is the SDK's NotFoundError", async () => {
      await assert.rejects(
        client.responses.create({ model: "nope", input: "hi" }),
        OpenAI.NotFoundError,
      );
    });
  } finally {
    await router.stop();
    await Promise.all([ollama.close(), coder.close(), claude.close(), hosted.close()]);
  }
});
