/**
 * End to end through the real CLI for Gemini's API (SPEC §4, §6): the official `@google/genai`
 * library (what the Gemini CLI is built on) against BitRouter in front of a chat upstream, a
 * fake Anthropic API, a virtual model that fails over, and a fake Gemini API; and the fake Gemini
 * API reached from the openai SDK (Chat Completions and Responses) and @anthropic-ai/sdk.
 */
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { ApiError, GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { refusedApiBase, startFake } from "../fakes/upstream.ts";
import { startFakeAnthropic } from "../fakes/anthropic.ts";
import { startFakeGemini } from "../fakes/gemini.ts";
import { startRouter } from "./helpers.ts";

const KEY = "br-local-key-0123";
const ANTHROPIC_KEY = "sk-ant-e2e-0123456789";
const GEMINI_KEY = "AIza-e2e-0123456789";

Deno.test("Gemini's API in front of every upstream, and Gemini upstreams behind every API", async (t) => {
  const ollama = await startFake({ kind: "ollama", content: ["Hello", " from", " ollama"] });
  const coder = await startFake({
    kind: "ollama",
    models: ["qwen2.5-coder:latest"],
    toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }],
  });
  const claude = await startFakeAnthropic({ apiKey: ANTHROPIC_KEY });
  const gemini = await startFakeGemini({
    apiKey: GEMINI_KEY,
    models: ["gemini-2.5-flash", "gemini-embedding-001"],
  });
  const down = await refusedApiBase();
  const router = await startRouter({
    config: `
server: { skip_auth: false, api_keys: [${KEY}] }
upstream: { timeouts: { first_byte_secs: 2, idle_secs: 2 } }
providers:
  gone:
    api_base: ${down}
    models: [llama3.1]
  ollama:
    api_base: ${ollama.apiBase}
    models: [{ id: llama3.1, provider_model_id: "llama3.1:latest" }]
  coder:
    api_base: ${coder.apiBase}
    models: [{ id: qwen2.5-coder, provider_model_id: "qwen2.5-coder:latest" }]
  anthropic:
    api_base: ${claude.apiBase}
    api_key: \${ANTHROPIC_API_KEY}
    models: [claude-sonnet-4-5]
  google:
    api_base: ${gemini.apiBase}
    api_key: \${GEMINI_API_KEY}
    api_protocol: generate_content
    models: [gemini-2.5-flash]
models:
  embedder:
    endpoints:
      - { provider: google, service_id: gemini-embedding-001 }
      - { provider: ollama, service_id: llama3.1 }
  smart:
    endpoints:
      - { provider: gone, service_id: llama3.1 }
      - { provider: ollama, service_id: llama3.1 }
`,
    env: { ANTHROPIC_API_KEY: ANTHROPIC_KEY, GEMINI_API_KEY: GEMINI_KEY },
  });
  // As the Gemini CLI is set up against a custom endpoint: the base URL and BitRouter's key.
  const genai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: router.url } });
  try {
    await t.step("generateContent from a chat upstream", async () => {
      const res = await genai.models.generateContent({
        model: "ollama:llama3.1",
        contents: "hi",
        config: { systemInstruction: "Be brief.", temperature: 0.2, maxOutputTokens: 40 },
      });
      assert.equal(res.text, "Hello from ollama");
      assert.equal(res.candidates?.[0].finishReason, "STOP");
      assert.equal(res.usageMetadata?.promptTokenCount, 12);
      const body = ollama.requests.at(-1)!.body as Record<string, unknown>;
      assert.deepEqual(body.messages, [
        { role: "system", content: "Be brief." },
        { role: "user", content: "hi" },
      ]);
      assert.equal(body.max_tokens, 40);
    });

    await t.step("generateContentStream from a Messages upstream", async () => {
      const pieces: string[] = [];
      for await (
        const chunk of await genai.models.generateContentStream({
          model: "claude-sonnet-4-5",
          contents: "hi",
        })
      ) pieces.push(chunk.text ?? "");
      assert.equal(pieces.join(""), "Hello from Claude");
    });

    await t.step("through a virtual model whose first server is down", async () => {
      const res = await genai.models.generateContent({ model: "smart", contents: "hi" });
      assert.equal(res.text, "Hello from ollama");
    });

    await t.step("function calling over two turns", async () => {
      const tools = [{
        functionDeclarations: [{
          name: "get_weather",
          description: "Weather for a city",
          parametersJsonSchema: { type: "object", properties: { city: { type: "string" } } },
        }],
      }];
      const first = await genai.models.generateContent({
        model: "qwen2.5-coder",
        contents: "weather in Paris?",
        config: { tools },
      });
      const call = first.functionCalls?.[0];
      assert.equal(call?.name, "get_weather");
      assert.deepEqual(call?.args, { city: "Paris" });
      await genai.models.generateContent({
        model: "qwen2.5-coder",
        contents: [
          { role: "user", parts: [{ text: "weather in Paris?" }] },
          { role: "model", parts: [{ functionCall: call }] },
          {
            role: "user",
            parts: [{
              functionResponse: { id: call?.id, name: "get_weather", response: { temp: 18 } },
            }],
          },
        ],
        config: { tools },
      });
      const sent = coder.requests.at(-1)!.body as { messages: Record<string, unknown>[] };
      const calls = sent.messages[1].tool_calls as { id: string }[];
      assert.deepEqual(sent.messages[2], {
        role: "tool",
        tool_call_id: calls[0].id,
        content: '{"temp":18}',
      });
    });

    await t.step(
      "system_instruction as Google's curl examples spell it reaches a chat upstream",
      async () => {
        const res = await fetch(`${router.url}/v1beta/models/ollama:llama3.1:generateContent`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-goog-api-key": KEY },
          body: JSON.stringify({
            system_instruction: { parts: [{ text: "You are a cat." }] },
            contents: [{ role: "user", parts: [{ text: "hi" }] }],
            generation_config: { max_output_tokens: 20 },
          }),
        });
        assert.equal(res.status, 200);
        await res.body?.cancel();
        const body = ollama.requests.at(-1)!.body as Record<string, unknown>;
        assert.deepEqual(body.messages, [
          { role: "system", content: "You are a cat." },
          { role: "user", content: "hi" },
        ]);
        assert.equal(body.max_tokens, 20);
      },
    );

    await t.step("countTokens estimates; embedContent embeds", async () => {
      const count = await genai.models.countTokens({ model: "llama3.1", contents: "x".repeat(40) });
      assert.equal(count.totalTokens, 10);
      const embedded = await genai.models.embedContent({ model: "llama3.1", contents: "one" });
      assert.ok((embedded.embeddings?.[0].values?.length ?? 0) > 0);
    });

    await t.step("an unknown model is an ApiError with status 404 in Google's shape", async () => {
      await assert.rejects(
        genai.models.generateContent({ model: "no-such-model", contents: "hi" }),
        (e: unknown) => {
          if (!(e instanceof ApiError) || e.status !== 404) return false;
          const body = JSON.parse(e.message);
          return body.error.status === "NOT_FOUND" && /no-such-model/.test(body.error.message);
        },
      );
    });

    await t.step("a wrong key is an ApiError with status 401", async () => {
      const wrong = new GoogleGenAI({ apiKey: "nope", httpOptions: { baseUrl: router.url } });
      await assert.rejects(
        wrong.models.generateContent({ model: "llama3.1", contents: "hi" }),
        (e: unknown) => e instanceof ApiError && e.status === 401,
      );
    });

    await t.step("the default stream is one JSON array; ?key= is accepted", async () => {
      const res = await fetch(
        `${router.url}/v1beta/models/llama3.1:streamGenerateContent?key=${KEY}`,
        { method: "POST", body: JSON.stringify({ contents: [{ parts: [{ text: "hi" }] }] }) },
      );
      assert.equal(res.status, 200);
      const items = JSON.parse(await res.text()) as {
        candidates: { content: { parts: { text: string }[] } }[];
      }[];
      assert.equal(
        items.map((i) => i.candidates[0].content.parts.map((p) => p.text).join("")).join(""),
        "Hello from ollama",
      );
    });

    await t.step("the model list on v1 and v1beta: what answers on Gemini's API", async () => {
      // The library's default is Gemini's v1; the Gemini CLI and older libraries use v1beta.
      const beta = new GoogleGenAI({
        apiKey: KEY,
        httpOptions: { baseUrl: router.url, apiVersion: "v1beta" },
      });
      for (const client of [genai, beta]) {
        const names: string[] = [];
        for await (const m of await client.models.list()) names.push(m.name ?? "");
        for (const id of ["llama3.1", "claude-sonnet-4-5", "gemini-2.5-flash", "smart"]) {
          assert.ok(names.includes(`models/${id}`), `${id} in ${names}`);
        }
      }
      let text = "";
      for await (
        const chunk of await beta.models.generateContentStream({
          model: "llama3.1",
          contents: "hi",
        })
      ) text += chunk.text ?? "";
      assert.equal(text, "Hello from ollama");
      // OpenAI's clients still get OpenAI's list at /v1/models.
      const res = await fetch(`${router.apiBase}/models`, {
        headers: { authorization: `Bearer ${KEY}` },
      });
      assert.equal((await res.json()).object, "list");
    });

    await t.step(
      "@google/genai reaches the Gemini upstream natively, plain and streamed",
      async () => {
        const res = await genai.models.generateContent({
          model: "gemini-2.5-flash",
          contents: "hi",
        });
        assert.equal(res.text, "Hello from Gemini");
        const sent = gemini.requests.at(-1)!;
        assert.equal(sent.path, "/v1beta/models/gemini-2.5-flash:generateContent");
        assert.equal(sent.headers.get("x-goog-api-key"), GEMINI_KEY);
        let text = "";
        for await (
          const chunk of await genai.models.generateContentStream({
            model: "gemini-2.5-flash",
            contents: "hi",
          })
        ) text += chunk.text ?? "";
        assert.equal(text, "Hello from Gemini");
        assert.equal(gemini.requests.at(-1)!.search, "?alt=sse");
        // countTokens is the Gemini upstream's own count (the fake says 9), not an estimate.
        const count = await genai.models.countTokens({ model: "gemini-2.5-flash", contents: "hi" });
        assert.equal(count.totalTokens, 9);
        assert.equal(gemini.requests.at(-1)!.path, "/v1beta/models/gemini-2.5-flash:countTokens");
      },
    );

    await t.step(
      "embedContent and batchEmbedContents reach a Gemini upstream natively, failing over to chat",
      async () => {
        // @google/genai sends embedContent as :batchEmbedContents, each request naming its model.
        const one = await genai.models.embedContent({
          model: "google:gemini-embedding-001",
          contents: "one two",
          config: { taskType: "RETRIEVAL_QUERY", outputDimensionality: 4 },
        });
        assert.deepEqual(one.embeddings?.map((e) => e.values), [[7, 2, 0.5, 0.5]]);
        const sent = gemini.requests.at(-1)!;
        assert.equal(sent.path, "/v1beta/models/gemini-embedding-001:batchEmbedContents");
        assert.equal(sent.headers.get("x-goog-api-key"), GEMINI_KEY);
        assert.deepEqual(sent.body, {
          requests: [{
            content: { parts: [{ text: "one two" }], role: "user" },
            taskType: "RETRIEVAL_QUERY",
            outputDimensionality: 4,
            model: "models/gemini-embedding-001",
          }],
        });
        // :embedContent as REST clients send it, through a virtual model whose first endpoint
        // is the Gemini upstream.
        const res = await fetch(`${router.url}/v1beta/models/embedder:embedContent`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-goog-api-key": KEY },
          body: JSON.stringify({ content: { parts: [{ text: "three" }] }, title: "T" }),
        });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("x-bitrouter-provider"), "google");
        assert.deepEqual(await res.json(), { embedding: { values: [5, 1, 0.5] } });
        assert.equal(
          gemini.requests.at(-1)!.path,
          "/v1beta/models/gemini-embedding-001:embedContent",
        );
        assert.deepEqual(gemini.requests.at(-1)!.body, {
          content: { parts: [{ text: "three" }] },
          title: "T",
        });
        // The Gemini upstream down: the chat endpoint after it embeds, through /embeddings.
        gemini.failWith = 503;
        try {
          const fallback = await genai.models.embedContent({ model: "embedder", contents: "x" });
          assert.ok((fallback.embeddings?.[0].values?.length ?? 0) > 0);
          assert.equal(ollama.requests.at(-1)!.path, "/v1/embeddings");
        } finally {
          gemini.failWith = undefined;
        }
      },
    );

    const openai = new OpenAI({ apiKey: KEY, baseURL: router.apiBase, maxRetries: 0 });
    await t.step("a chat client reaches the Gemini upstream, plain and streamed", async () => {
      const res = await openai.chat.completions.create({
        model: "gemini-2.5-flash",
        messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "hi" }],
        max_tokens: 30,
      });
      assert.equal(res.choices[0].message.content, "Hello from Gemini");
      assert.equal(res.usage?.prompt_tokens, 9);
      const body = gemini.requests.at(-1)!.body as Record<string, unknown>;
      assert.deepEqual(body.systemInstruction, { parts: [{ text: "Be brief." }] });
      const stream = await openai.chat.completions.create({
        model: "gemini-2.5-flash",
        messages: [{ role: "user", content: "hi" }],
        stream: true,
      });
      let text = "";
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
      assert.equal(text, "Hello from Gemini");
    });

    await t.step("a Messages client reaches the Gemini upstream, plain and streamed", async () => {
      const anthropic = new Anthropic({ baseURL: router.url, apiKey: KEY, maxRetries: 0 });
      const msg = await anthropic.messages.create({
        model: "gemini-2.5-flash",
        max_tokens: 50,
        messages: [{ role: "user", content: "hi" }],
      });
      assert.deepEqual(msg.content.map((b) => b.type === "text" ? b.text : b.type), [
        "Hello from Gemini",
      ]);
      const final = await anthropic.messages.stream({
        model: "gemini-2.5-flash",
        max_tokens: 50,
        messages: [{ role: "user", content: "hi" }],
      }).finalMessage();
      assert.equal(final.stop_reason, "end_turn");
      assert.deepEqual(final.content.map((b) => b.type === "text" ? b.text : b.type), [
        "Hello from Gemini",
      ]);
    });

    await t.step("a Responses client reaches the Gemini upstream, plain and streamed", async () => {
      const res = await openai.responses.create({
        model: "gemini-2.5-flash",
        input: "hi",
        store: false,
      });
      assert.equal(res.output_text, "Hello from Gemini");
      const stream = openai.responses.stream({
        model: "gemini-2.5-flash",
        input: "hi",
        store: false,
      });
      const final = await stream.finalResponse();
      assert.equal(final.output_text, "Hello from Gemini");
    });

    await t.step(
      "a Gemini upstream's 503 is a 502 naming it, in the client's envelope",
      async () => {
        gemini.failWith = 503;
        await assert.rejects(
          openai.chat.completions.create({
            model: "google:gemini-2.5-flash",
            messages: [{ role: "user", content: "hi" }],
          }),
          (e: unknown) => e instanceof OpenAI.APIError && e.status === 502 && /503/.test(e.message),
        );
        gemini.failWith = undefined;
      },
    );
  } finally {
    await router.stop();
    await Promise.all([ollama.close(), coder.close(), claude.close(), gemini.close()]);
  }
});
