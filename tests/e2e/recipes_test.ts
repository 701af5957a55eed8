/**
 * The README's recipes, run as written against a fake Ollama serving the README's Ollama example
 * (`llama3.1` → `llama3.1:8b`, `qwen2.5-coder:7b`): the base URL each library takes (and the 404 a
 * wrong one gives), the model ids of the Claude Code and Codex recipes, the OpenAI SDK's chat and
 * Responses calls with `previous_response_id`, the Vercel AI SDK's default Responses model, and
 * `@google/genai` with the Gemini section's model. The config is the README's Ollama example,
 * read from README.md, and every `ollama:` model id the README names is asked for through it.
 * Agent CLIs (Claude Code, Codex) are not run: their requests are made with the SDKs they use.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText } from "ai";
import { GoogleGenAI } from "@google/genai";
import { startFake } from "../fakes/upstream.ts";
import { startRouter } from "./helpers.ts";

const README = await Deno.readTextFile(new URL("../../README.md", import.meta.url));

Deno.test("README recipes work word for word", async (t) => {
  const ollama = await startFake({
    kind: "ollama",
    models: ["llama3.1:8b", "qwen2.5-coder:7b"],
    content: ["Hello", " from", " ollama"],
  });
  // The README's Ollama example, with the fake's address.
  const example = /### Ollama\n\n```yaml\n([^`]*)```/.exec(README)?.[1];
  assert.ok(example, "README.md has no yaml block right under ### Ollama");
  assert.match(example, /api_base: http:\/\/localhost:11434\/v1\n/);
  const router = await startRouter({
    config: example.replace("http://localhost:11434/v1", ollama.apiBase),
  });
  const base = router.url; // http://127.0.0.1:PORT, standing for http://127.0.0.1:4356
  const sentModel = () => (ollama.requests.at(-1)!.body as { model: string }).model;
  try {
    await t.step(
      "every ollama: model id the README names is one the Ollama example serves",
      async () => {
        const ids = new Set(
          [...README.matchAll(/ollama:([A-Za-z0-9][\w.:\/-]*\w)/g)].map((m) => m[0]),
        );
        assert.ok(ids.has("ollama:qwen2.5-coder:7b"), [...ids].join(", "));
        const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0 });
        for (const model of ids) {
          const reply = await client.chat.completions.create({
            model,
            messages: [{ role: "user", content: "Hello" }],
          }).catch((e: Error) => assert.fail(`${model}, as the README writes it: ${e.message}`));
          assert.equal(reply.choices[0].message.content, "Hello from ollama", model);
        }
      },
    );

    await t.step("Gemini's recipe: @google/genai and the Gemini CLI's model", async () => {
      const code =
        /ai\.models\.generateContent\(\{\s*model: "([^"]+)",\s*contents: "Hello",?\s*\}\)/
          .exec(README);
      const cli = /GOOGLE_GEMINI_BASE_URL=\S+ GEMINI_API_KEY=unused gemini -m (\S+)/.exec(README);
      assert.ok(code && cli, "README.md's Gemini section has no generateContent or gemini -m line");
      assert.equal(cli[1], code[1], "the Gemini CLI line names another model than the code");
      const ai = new GoogleGenAI({ apiKey: "unused", httpOptions: { baseUrl: base } });
      const res = await ai.models.generateContent({ model: code[1], contents: "Hello" });
      assert.equal(res.text, "Hello from ollama");
      assert.equal(sentModel(), "qwen2.5-coder:7b");
    });

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
