/**
 * The README's recipes, run as written against a fake Ollama serving the README's Ollama example
 * (`llama3.1` → `llama3.1:8b`, `qwen2.5-coder:7b`): the base URL each library takes (and the 404 a
 * wrong one gives), the model ids of the Claude Code and Codex recipes, the OpenAI SDK's chat and
 * Responses calls with `previous_response_id`, and the Vercel AI SDK's default Responses model.
 * Agent CLIs (Claude Code, Codex) are not run: their requests are made with the SDKs they use.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText } from "ai";
import { startFake } from "../fakes/upstream.ts";
import { startRouter } from "./helpers.ts";

Deno.test("README recipes work word for word", async (t) => {
  const ollama = await startFake({
    kind: "ollama",
    models: ["llama3.1:8b", "qwen2.5-coder:7b"],
    content: ["Hello", " from", " ollama"],
  });
  // The README's Ollama example, with the fake's address.
  const router = await startRouter({
    config: `
providers:
  ollama:
    api_base: ${ollama.apiBase}
    models:
      - id: llama3.1 # what clients ask for
        provider_model_id: llama3.1:8b # the tag Ollama knows (default: the id)
      - id: qwen2.5-coder:7b
`,
  });
  const base = router.url; // http://127.0.0.1:PORT, standing for http://127.0.0.1:4356
  const sentModel = () => (ollama.requests.at(-1)!.body as { model: string }).model;
  try {
    await t.step(
      "OpenAI SDK at …/v1: chat, streamed chat, Responses with previous_response_id",
      async () => {
        const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused" });
        const reply = await client.chat.completions.create({
          model: "ollama:llama3.1",
          messages: [{ role: "user", content: "Hello" }],
        });
        assert.equal(reply.choices[0].message.content, "Hello from ollama");
        assert.equal(sentModel(), "llama3.1:8b");
        let text = "";
        for await (
          const chunk of await client.chat.completions.create({
            model: "ollama:llama3.1",
            messages: [{ role: "user", content: "Count to five" }],
            stream: true,
          })
        ) text += chunk.choices[0]?.delta?.content ?? "";
        assert.equal(text, "Hello from ollama");
        const r = await client.responses.create({ model: "llama3.1", input: "Hello" });
        assert.equal(r.output_text, "Hello from ollama");
        const next = await client.responses.create({
          model: "llama3.1",
          input: "And again, shorter",
          previous_response_id: r.id,
        });
        assert.equal(next.output_text, "Hello from ollama");
        const messages =
          (ollama.requests.at(-1)!.body as { messages: { role: string }[] }).messages;
        assert.deepEqual(messages.map((m) => m.role), ["user", "assistant", "user"]);
      },
    );

    await t.step(
      "Anthropic SDK at the root URL; …/v1 there is the bare 404 the table warns of",
      async () => {
        const client = new Anthropic({ baseURL: base, apiKey: "unused" });
        const msg = await client.messages.create({
          model: "llama3.1",
          max_tokens: 512,
          messages: [{ role: "user", content: "Hello" }],
        });
        assert.deepEqual(msg.content, [{ type: "text", text: "Hello from ollama" }]);
        const wrong = new Anthropic({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0 });
        await assert.rejects(
          wrong.messages.create({
            model: "llama3.1",
            max_tokens: 8,
            messages: [{ role: "user", content: "Hello" }],
          }),
          (e: unknown) =>
            e instanceof Anthropic.NotFoundError && /no such endpoint/.test(e.message),
        );
      },
    );

    await t.step(
      "Claude Code's recipe: every model slot it asks for is the local model",
      async () => {
        // What `claude` sends with the recipe's variables: ANTHROPIC_BASE_URL + /v1/messages, the
        // token as a bearer key, and the model of the slot in use.
        const env = {
          ANTHROPIC_BASE_URL: base,
          ANTHROPIC_AUTH_TOKEN: "local",
          ANTHROPIC_MODEL: "ollama:qwen2.5-coder:7b",
          ANTHROPIC_DEFAULT_OPUS_MODEL: "ollama:qwen2.5-coder:7b",
          ANTHROPIC_DEFAULT_SONNET_MODEL: "ollama:qwen2.5-coder:7b",
          ANTHROPIC_DEFAULT_HAIKU_MODEL: "ollama:qwen2.5-coder:7b",
        };
        const claude = new Anthropic({
          baseURL: env.ANTHROPIC_BASE_URL,
          authToken: env.ANTHROPIC_AUTH_TOKEN,
          apiKey: null,
          maxRetries: 0,
        });
        for (
          const model of [
            env.ANTHROPIC_MODEL,
            env.ANTHROPIC_DEFAULT_OPUS_MODEL,
            env.ANTHROPIC_DEFAULT_SONNET_MODEL,
            env.ANTHROPIC_DEFAULT_HAIKU_MODEL,
          ]
        ) {
          const text = await claude.messages.stream({
            model,
            max_tokens: 32000,
            system: [{ type: "text", text: "You are Claude Code." }],
            messages: [{ role: "user", content: "hi" }],
          }).finalText();
          assert.equal(text, "Hello from ollama");
          assert.equal(sentModel(), "qwen2.5-coder:7b");
        }
      },
    );

    await t.step(
      "Codex's recipe: model ollama:qwen2.5-coder:7b over the Responses API at …/v1",
      async () => {
        const codex = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused" });
        const events: string[] = [];
        for await (
          const e of await codex.responses.create({
            model: "ollama:qwen2.5-coder:7b",
            instructions: "You are Codex.",
            input: [{
              type: "message",
              role: "user",
              content: [{ type: "input_text", text: "hi" }],
            }],
            store: false,
            stream: true,
          })
        ) events.push(e.type);
        assert.equal(events.at(-1), "response.completed");
        assert.equal(sentModel(), "qwen2.5-coder:7b");
      },
    );

    await t.step(
      "Vercel AI SDK: createOpenAI at …/v1, its default (Responses) model and .chat",
      async () => {
        const openai = createOpenAI({ baseURL: `${base}/v1`, apiKey: "unused" });
        const r = await generateText({ model: openai("ollama:qwen2.5-coder:7b"), prompt: "Hello" });
        assert.equal(r.text, "Hello from ollama");
        assert.equal(ollama.requests.at(-1)!.path, "/v1/chat/completions");
        const c = await generateText({
          model: openai.chat("ollama:qwen2.5-coder:7b"),
          prompt: "Hi",
        });
        assert.equal(c.text, "Hello from ollama");
      },
    );
  } finally {
    await router.stop();
    await ollama.close();
  }
});
