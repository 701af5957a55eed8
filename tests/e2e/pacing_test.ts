/**
 * Stream pacing across protocols (SPEC §6): an upstream that sends one event every 50 ms reaches
 * the client as one event every ~50 ms in every translated direction — never held back and sent
 * in a burst at the end.
 */
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { startFake } from "../fakes/upstream.ts";
import { startFakeAnthropic } from "../fakes/anthropic.ts";
import { startRouter } from "./helpers.ts";

const PIECES = ["one", " two", " three", " four", " five"];

/** Asserts the text deltas arrived spread out, not in one burst. */
function assertPaced(times: number[], what: string) {
  assert.equal(times.length, PIECES.length, what);
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  for (const gap of gaps) {
    assert.ok(gap >= 25, `${what}: deltas ${gaps.map((g) => g.toFixed(0)).join(", ")} ms apart`);
  }
}

Deno.test("translated streams keep the upstream's pacing in every direction", async (t) => {
  const ollama = await startFake({ kind: "ollama", chunkDelayMs: 50, content: PIECES });
  const claude = await startFakeAnthropic({
    apiKey: "k",
    eventDelayMs: 50,
    answer: { type: "text", pieces: PIECES },
  });
  const router = await startRouter({
    config: `
providers:
  ollama: { api_base: "${ollama.apiBase}", models: [{ id: llama3.1, provider_model_id: "llama3.1:latest" }] }
  anthropic: { api_base: "${claude.apiBase}", api_key: k, models: [claude-sonnet-4-5] }
`,
  });
  const openai = new OpenAI({ baseURL: router.apiBase, apiKey: "x", maxRetries: 0 });
  const anthropic = new Anthropic({ baseURL: router.url, apiKey: "x", maxRetries: 0 });
  try {
    await t.step("Messages client, chat upstream", async () => {
      const times: number[] = [];
      const stream = anthropic.messages.stream({
        model: "llama3.1",
        max_tokens: 50,
        messages: [{ role: "user", content: "count" }],
      });
      stream.on("text", () => times.push(performance.now()));
      await stream.finalMessage();
      assertPaced(times, "messages→chat");
    });

    await t.step("Responses client, chat upstream", async () => {
      const times: number[] = [];
      for await (
        const e of await openai.responses.create({
          model: "llama3.1",
          input: "count",
          stream: true,
        })
      ) if (e.type === "response.output_text.delta") times.push(performance.now());
      assertPaced(times, "responses→chat");
    });

    await t.step("chat client, Messages upstream", async () => {
      const times: number[] = [];
      for await (
        const c of await openai.chat.completions.create({
          model: "claude-sonnet-4-5",
          messages: [{ role: "user", content: "count" }],
          stream: true,
        })
      ) if (c.choices[0]?.delta?.content) times.push(performance.now());
      assertPaced(times, "chat→messages");
    });

    await t.step("Responses client, Messages upstream", async () => {
      const times: number[] = [];
      for await (
        const e of await openai.responses.create({
          model: "claude-sonnet-4-5",
          input: "count",
          stream: true,
        })
      ) if (e.type === "response.output_text.delta") times.push(performance.now());
      assertPaced(times, "responses→messages");
    });
  } finally {
    await router.stop();
    await Promise.all([ollama.close(), claude.close()]);
  }
});
