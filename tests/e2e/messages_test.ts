/**
 * End to end through the real CLI for SPEC §6's Messages directions: the official
 * `@anthropic-ai/sdk` (what Claude Code is built on) against a fake Ollama, and the official
 * `openai` SDK against a fake hosted Anthropic API.
 */
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { type FakeUpstream, startFake } from "../fakes/upstream.ts";
import { type FakeAnthropic, startFakeAnthropic } from "../fakes/anthropic.ts";
import { type RunningRouter, startRouter } from "./helpers.ts";

const ANTHROPIC_KEY = "sk-ant-e2e-0123456789";

interface Setup {
  ollama: FakeUpstream;
  tools: FakeUpstream;
  claude: FakeAnthropic;
  router: RunningRouter;
  anthropic: Anthropic;
  openai: OpenAI;
}

async function withRouter(body: (s: Setup) => Promise<void>): Promise<void> {
  const ollama = await startFake({ kind: "ollama", content: ["Hello", " from", " ollama"] });
  const tools = await startFake({
    kind: "ollama",
    models: ["qwen2.5-coder:latest"],
    toolCalls: [{ name: "read_file", arguments: { path: "src/main.ts" } }],
  });
  const claude = await startFakeAnthropic({ apiKey: ANTHROPIC_KEY });
  let router: RunningRouter | undefined;
  try {
    router = await startRouter({
      config: `
server: { skip_auth: true }
upstream: { timeouts: { first_byte_secs: 2, idle_secs: 1 } }
providers:
  ollama:
    api_base: ${ollama.apiBase}
    models: [{ id: llama3.1, provider_model_id: "llama3.1:latest" }]
  coder:
    api_base: ${tools.apiBase}
    models: [{ id: qwen2.5-coder, provider_model_id: "qwen2.5-coder:latest" }]
  anthropic:
    api_base: ${claude.apiBase}
    api_key: \${ANTHROPIC_API_KEY}
    models: [claude-sonnet-4-5]
`,
      env: { ANTHROPIC_API_KEY: ANTHROPIC_KEY },
    });
    await body({
      ollama,
      tools,
      claude,
      router,
      // As Claude Code is set up: ANTHROPIC_BASE_URL without /v1, a token that is not checked.
      anthropic: new Anthropic({ baseURL: router.url, apiKey: "local", maxRetries: 0 }),
      openai: new OpenAI({ baseURL: router.apiBase, apiKey: "unused", maxRetries: 0 }),
    });
  } finally {
    await router?.stop();
    await Promise.all([ollama.close(), tools.close(), claude.close()]);
  }
}

Deno.test("Messages clients reach chat upstreams, and chat clients reach Anthropic", async (t) => {
  await withRouter(async ({ ollama, tools, claude, anthropic, openai }) => {
    await t.step("a plain Messages request answers from Ollama as a message", async () => {
      const msg = await anthropic.messages.create({
        model: "ollama:llama3.1",
        max_tokens: 100,
        system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
        messages: [{ role: "user", content: "hi" }],
      });
      assert.equal(msg.type, "message");
      assert.equal(msg.role, "assistant");
      assert.deepEqual(msg.content.map((b) => b.type === "text" ? b.text : b.type), [
        "Hello from ollama",
      ]);
      assert.equal(msg.stop_reason, "end_turn");
      const sent = ollama.requests.at(-1)!;
      assert.equal(sent.path, "/v1/chat/completions");
      assert.deepEqual((sent.body as { messages: unknown[] }).messages, [
        { role: "system", content: "Be brief." },
        { role: "user", content: "hi" },
      ]);
    });

    await t.step("a streamed Messages request arrives as text deltas", async () => {
      const stream = anthropic.messages.stream({
        model: "llama3.1",
        max_tokens: 100,
        messages: [{ role: "user", content: "hi" }],
      });
      const deltas: string[] = [];
      stream.on("text", (d) => deltas.push(d));
      const final = await stream.finalMessage();
      assert.deepEqual(deltas, ["Hello", " from", " ollama"]);
      assert.equal(final.stop_reason, "end_turn");
    });

    await t.step("tool use round trip: streamed tool_use in, tool_result back out", async () => {
      const toolsDef = [{
        name: "read_file",
        description: "Read a file",
        input_schema: {
          type: "object" as const,
          properties: { path: { type: "string" } },
          required: ["path"],
        },
      }];
      const final = await anthropic.messages.stream({
        model: "qwen2.5-coder",
        max_tokens: 200,
        tools: toolsDef,
        messages: [{ role: "user", content: "show me main" }],
      }).finalMessage();
      assert.equal(final.stop_reason, "tool_use");
      const use = final.content.find((b) => b.type === "tool_use");
      assert.ok(use && use.type === "tool_use");
      assert.equal(use.name, "read_file");
      assert.deepEqual(use.input, { path: "src/main.ts" });

      await anthropic.messages.create({
        model: "qwen2.5-coder",
        max_tokens: 200,
        tools: toolsDef,
        messages: [
          { role: "user", content: "show me main" },
          { role: "assistant", content: final.content },
          {
            role: "user",
            content: [{ type: "tool_result", tool_use_id: use.id, content: "console.log(1)" }],
          },
        ],
      });
      const sent = tools.requests.at(-1)!.body as { messages: Record<string, unknown>[] };
      const toolMsg = sent.messages.find((m) => m.role === "tool");
      assert.deepEqual(toolMsg, { role: "tool", tool_call_id: use.id, content: "console.log(1)" });
    });

    await t.step("an unknown model is the Anthropic SDK's NotFoundError", async () => {
      await assert.rejects(
        anthropic.messages.create({
          model: "no-such-model",
          max_tokens: 10,
          messages: [{ role: "user", content: "hi" }],
        }),
        (e) => e instanceof Anthropic.NotFoundError && /bitrouter models/.test(e.message),
      );
    });

    await t.step("count_tokens answers with an estimate for a chat upstream", async () => {
      const counted = await anthropic.messages.countTokens({
        model: "llama3.1",
        messages: [{ role: "user", content: "x".repeat(400) }],
      });
      assert.ok(counted.input_tokens >= 100 && counted.input_tokens < 120, String(counted));
    });

    await t.step("count_tokens is exact from an Anthropic upstream", async () => {
      const counted = await anthropic.messages.countTokens({
        model: "anthropic:claude-sonnet-4-5",
        messages: [{ role: "user", content: "hi" }],
      });
      assert.equal(claude.requests.at(-1)!.path, "/v1/messages/count_tokens");
      assert.equal(typeof counted.input_tokens, "number");
    });

    await t.step(
      "an Ollama stream that dies mid-way is an error for the Anthropic SDK",
      async () => {
        ollama.fault = { type: "die_after", chunks: 1 };
        try {
          const stream = anthropic.messages.stream({
            model: "llama3.1",
            max_tokens: 100,
            messages: [{ role: "user", content: "hi" }],
          });
          await assert.rejects(stream.finalMessage(), /broke off|ended before/);
        } finally {
          ollama.fault = { type: "none" };
        }
      },
    );

    await t.step(
      "the openai SDK reaches a hosted Anthropic model, plain and streamed",
      async () => {
        const reply = await openai.chat.completions.create({
          model: "claude-sonnet-4-5",
          messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "hi" }],
        });
        assert.equal(reply.choices[0].message.content, "Hello from Claude");
        assert.equal(reply.choices[0].finish_reason, "stop");
        const sent = claude.requests.at(-1)!;
        assert.equal(sent.path, "/v1/messages");
        assert.equal(sent.headers.get("x-api-key"), ANTHROPIC_KEY);
        assert.ok(sent.headers.get("anthropic-version"));
        assert.equal((sent.body as { system: unknown }).system, "Be brief.");

        const pieces: string[] = [];
        for await (
          const chunk of await openai.chat.completions.create({
            model: "claude-sonnet-4-5",
            messages: [{ role: "user", content: "hi" }],
            stream: true,
          })
        ) pieces.push(chunk.choices[0]?.delta?.content ?? "");
        assert.equal(pieces.join(""), "Hello from Claude");
      },
    );

    await t.step(
      "a rate-limited Anthropic upstream is the openai SDK's RateLimitError",
      async () => {
        claude.fault = { type: "rate_limit", retryAfterSecs: 7 };
        try {
          await assert.rejects(
            openai.chat.completions.create({
              model: "claude-sonnet-4-5",
              messages: [{ role: "user", content: "hi" }],
            }),
            (e) => e instanceof OpenAI.RateLimitError && e.headers?.get("retry-after") === "7",
          );
        } finally {
          claude.fault = { type: "none" };
        }
      },
    );
  });
});
