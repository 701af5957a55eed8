/**
 * Client fidelity end to end, through the real CLI and the official clients as users run them:
 * the Vercel AI SDK's Responses model with `store` (item_reference), `previous_response_id`
 * chains and GET/DELETE of stored responses, reasoning summaries read by `streamText`, Codex's and
 * Claude Code's system messages reaching a strict chat template as one system message first,
 * Codex's namespace tools, chat and Messages clients on a Responses provider, and an endpoint a
 * model is not served for answered 404 and not retried.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, type ModelMessage, streamText } from "ai";
import { startStrictChat } from "../fakes/strict_chat.ts";
import { startFakeAnthropic } from "../fakes/anthropic.ts";
import { startFakeResponses } from "../fakes/responses.ts";
import { startRouter } from "./helpers.ts";

type Json = Record<string, unknown>;

Deno.test("client fidelity: stored responses, reasoning, system messages, namespace tools, no 502", async (t) => {
  const strict = await startStrictChat({
    reasoning: ["Think", "ing hard."],
    content: ["Hi", " there"],
    toolCall: { name: "multi_agent_v1__spawn_agent", arguments: '{"message":"explore"}' },
  });
  const claude = await startFakeAnthropic({ apiKey: "sk-ant-e2e" });
  const hosted = await startFakeResponses({ apiKey: "sk-oai-e2e" });
  const router = await startRouter({
    config: `
providers:
  llamacpp:
    api_base: ${strict.apiBase}
    models: [qwen2.5-coder:7b]
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
  const MODEL = "qwen2.5-coder:7b";
  const client = new OpenAI({ baseURL: router.apiBase, apiKey: "local", maxRetries: 0 });
  const lastMessages = () => strict.requests.at(-1)!.body.messages as Json[];
  try {
    await t.step(
      "the AI SDK's Responses model over three turns with store: the upstream sees the assistant turns",
      async () => {
        const openai = createOpenAI({ baseURL: router.apiBase, apiKey: "local" });
        const sent: Json[] = [];
        const counting = createOpenAI({
          baseURL: router.apiBase,
          apiKey: "local",
          fetch: async (input, init) => {
            sent.push(JSON.parse(String(init?.body)));
            return await fetch(input, init);
          },
        });
        assert.equal(typeof openai.responses, "function");
        const messages: ModelMessage[] = [];
        for (const question of ["one?", "two?", "three?"]) {
          messages.push({ role: "user", content: question });
          const r = await generateText({ model: counting.responses(MODEL), messages });
          assert.equal(r.text, "Hi there");
          messages.push(...r.response.messages);
        }
        // The SDK sent earlier assistant turns as references into BitRouter's store…
        const input = sent.at(-1)!.input as Json[];
        assert.ok(input.some((i) => i.type === "item_reference"), JSON.stringify(input));
        // …and the upstream got them as assistant turns, in order.
        const roles = lastMessages().map((m) => `${m.role}:${m.content}`);
        assert.deepEqual(roles, [
          "user:one?",
          "assistant:Hi there",
          "user:two?",
          "assistant:Hi there",
          "user:three?",
        ]);
      },
    );

    await t.step(
      "a previous_response_id chain of three, GET and DELETE, then 404 naming the id",
      async () => {
        const r1 = await client.responses.create({ model: MODEL, input: "A" });
        const r2 = await client.responses.create({
          model: MODEL,
          input: "B",
          previous_response_id: r1.id,
        });
        const r3 = await client.responses.create({
          model: MODEL,
          input: [{ role: "user", content: "C" }],
          previous_response_id: r2.id,
          stream: true,
        });
        let id = "";
        for await (const e of r3) if (e.type === "response.completed") id = e.response.id;
        assert.deepEqual(lastMessages().map((m) => `${m.role}:${m.content}`), [
          "user:A",
          "assistant:Hi there",
          "user:B",
          "assistant:Hi there",
          "user:C",
        ]);
        const got = await client.responses.retrieve(id);
        assert.equal(got.id, id);
        assert.equal(got.output_text, "Hi there");
        const items = await client.responses.inputItems.list(id);
        // The whole conversation r3 answered: A, r1's output (reasoning, message), B, r2's, C.
        assert.equal(items.data.length, 7);
        assert.deepEqual(items.data.map((i) => i.type), [
          "message",
          "reasoning",
          "message",
          "message",
          "reasoning",
          "message",
          "message",
        ]);
        await client.responses.delete(id);
        await assert.rejects(
          client.responses.create({ model: MODEL, input: "D", previous_response_id: id }),
          (e: unknown) =>
            e instanceof OpenAI.NotFoundError && e.message.includes(id) &&
            (e.error as Json).code === "previous_response_not_found",
        );
        await assert.rejects(client.responses.retrieve(id), OpenAI.NotFoundError);
        const unstored = await client.responses.create({ model: MODEL, input: "E", store: false });
        await assert.rejects(client.responses.retrieve(unstored.id), OpenAI.NotFoundError);
        await assert.rejects(
          client.responses.create({
            model: MODEL,
            input: [{ type: "item_reference", id: "msg_nowhere" }],
          }),
          (e: unknown) => e instanceof OpenAI.NotFoundError && e.message.includes("msg_nowhere"),
        );
      },
    );

    await t.step("reasoning summaries fill the AI SDK's reasoningText (streamText)", async () => {
      const openai = createOpenAI({ baseURL: router.apiBase, apiKey: "local" });
      const result = streamText({
        model: openai.responses(MODEL),
        prompt: "why?",
        providerOptions: { openai: { store: false } },
      });
      assert.equal(await result.text, "Hi there");
      assert.equal(await result.reasoningText, "Thinking hard.");
    });

    await t.step(
      "a Codex-shaped request reaches a strict template with one system message first",
      async () => {
        const r = await client.responses.create({
          model: MODEL,
          instructions: "You are Codex.",
          store: false,
          input: [
            {
              type: "message",
              role: "developer",
              content: [
                { type: "input_text", text: "<permissions>sandboxed</permissions>" },
                { type: "input_text", text: "<environment_context>cwd</environment_context>" },
              ],
            },
            { type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] },
          ],
        });
        assert.equal(r.output_text, "Hi there");
        const messages = lastMessages();
        assert.equal(messages.filter((m) => m.role === "system").length, 1);
        assert.equal(messages[0].role, "system");
        assert.match(String(messages[0].content), /You are Codex\.[\s\S]*sandboxed[\s\S]*cwd/);
      },
    );

    await t.step(
      "a Claude-Code-shaped request (a system turn after the first user turn) does too",
      async () => {
        const anthropic = new Anthropic({ baseURL: router.url, apiKey: "local", maxRetries: 0 });
        const msg = await anthropic.messages.create({
          model: MODEL,
          max_tokens: 64,
          system: [{ type: "text", text: "You are Claude Code." }],
          messages: [
            { role: "user", content: "hi" },
            { role: "system", content: "# Environment\ncwd: /repo" },
            { role: "assistant", content: "Hello." },
            { role: "user", content: "go on" },
          ] as unknown as Anthropic.MessageParam[],
        });
        assert.deepEqual(msg.content.filter((b) => b.type === "text").map((b) => b.text), [
          "Hi there",
        ]);
        const messages = lastMessages();
        assert.equal(messages.filter((m) => m.role === "system").length, 1);
        assert.equal(messages[0].content, "You are Claude Code.\n\n# Environment\ncwd: /repo");
        assert.deepEqual(messages.slice(1).map((m) => m.role), ["user", "assistant", "user"]);
      },
    );

    await t.step(
      "a namespace tool round trip: offered flat, answered in Codex's form, plain and streamed",
      async () => {
        const tools = [{
          type: "namespace",
          name: "multi_agent_v1",
          description: "Sub-agents.",
          tools: [{
            type: "function",
            name: "spawn_agent",
            description: "Start an agent.",
            parameters: { type: "object", properties: { message: { type: "string" } } },
            strict: false,
          }],
        }] as unknown as OpenAI.Responses.Tool[];
        const r = await client.responses.create({
          model: MODEL,
          input: "spawn",
          tools,
          store: false,
        });
        const call = r.output.find((i) => i.type === "function_call") as unknown as Json;
        assert.deepEqual([call.name, call.namespace, call.arguments], [
          "spawn_agent",
          "multi_agent_v1",
          '{"message":"explore"}',
        ]);
        const offered = (strict.requests.at(-1)!.body.tools as Json[]).map((t) =>
          (t.function as Json).name
        );
        assert.deepEqual(offered, ["multi_agent_v1__spawn_agent"]);
        const done: Json[] = [];
        for await (
          const e of await client.responses.create({
            model: MODEL,
            input: "spawn",
            tools,
            store: false,
            stream: true,
          })
        ) if (e.type === "response.output_item.done") done.push(e.item as unknown as Json);
        assert.deepEqual(
          done.filter((i) => i.type === "function_call").map((i) => [i.name, i.namespace]),
          [["spawn_agent", "multi_agent_v1"]],
        );
        // The call and its output go back; the upstream sees the flat name again.
        const next = await client.responses.create({
          model: MODEL,
          tools,
          store: false,
          input: [
            { role: "user", content: "spawn" },
            call as unknown as OpenAI.Responses.ResponseInputItem,
            { type: "function_call_output", call_id: String(call.call_id), output: "agent 7" },
          ],
        });
        assert.equal(next.output_text, "Hi there");
        const history = lastMessages();
        assert.equal(
          ((history[1].tool_calls as Json[])[0].function as Json).name,
          "multi_agent_v1__spawn_agent",
        );
      },
    );

    await t.step(
      "chat and Messages clients are translated to a Responses provider, plain and streamed",
      async () => {
        const chat = await client.chat.completions.create({
          model: "gpt-5",
          messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "hi" }],
        });
        assert.equal(chat.choices[0].message.content, "Hello from responses");
        const sent = hosted.requests.at(-1)!.body;
        assert.equal(sent.store, false);
        assert.deepEqual((sent.input as Json[])[1], {
          type: "message",
          role: "user",
          content: "hi",
        });
        let text = "";
        for await (
          const c of await client.chat.completions.create({
            model: "gpt-5",
            messages: [{ role: "user", content: "hi" }],
            stream: true,
          })
        ) text += c.choices[0]?.delta?.content ?? "";
        assert.equal(text, "Hello from responses");
        const anthropic = new Anthropic({ baseURL: router.url, apiKey: "local", maxRetries: 0 });
        const msg = await anthropic.messages.create({
          model: "gpt-5",
          max_tokens: 64,
          messages: [{ role: "user", content: "hi" }],
        });
        assert.deepEqual(msg.content, [{ type: "text", text: "Hello from responses" }]);
        const streamed = await anthropic.messages.stream({
          model: "gpt-5",
          max_tokens: 64,
          messages: [{ role: "user", content: "hi" }],
        }).finalText();
        assert.equal(streamed, "Hello from responses");
      },
    );

    await t.step(
      "embeddings for a Messages-only model: 404 saying why, not retried by the openai SDK",
      async () => {
        let calls = 0;
        const retrying = new OpenAI({
          baseURL: router.apiBase,
          apiKey: "local",
          maxRetries: 2,
          fetch: async (input: string | URL | Request, init?: RequestInit) => {
            calls++;
            return await fetch(input, init);
          },
        });
        const before = claude.requests.length;
        await assert.rejects(
          retrying.embeddings.create({ model: "claude-sonnet-4-5", input: "hello" }),
          (e: unknown) =>
            e instanceof OpenAI.NotFoundError && /anthropic \(messages\)/.test(e.message) &&
            /providers that serve it: llamacpp/.test(e.message),
        );
        assert.equal(calls, 1);
        assert.equal(claude.requests.length, before);
      },
    );
  } finally {
    await router.stop();
    await strict.close();
    await claude.close();
    await hosted.close();
  }
});
