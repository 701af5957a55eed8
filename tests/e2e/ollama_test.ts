/**
 * End to end through the real CLI for Ollama's API (SPEC §4, §6): the official `ollama` npm
 * library, as Open WebUI and editor plugins use it, against BitRouter in front of a chat
 * upstream (a fake Ollama's /v1), a fake Anthropic API, and a virtual model that fails over.
 */
import assert from "node:assert/strict";
import { Ollama } from "ollama";
import { refusedApiBase, startFake } from "../fakes/upstream.ts";
import { startFakeAnthropic } from "../fakes/anthropic.ts";
import { startRouter } from "./helpers.ts";

const KEY = "br-local-key-0123";
const ANTHROPIC_KEY = "sk-ant-e2e-0123456789";

Deno.test("the ollama library works against BitRouter: chat, generate, embed, tools, lists, errors", async (t) => {
  const ollama = await startFake({ kind: "ollama", content: ["Hello", " from", " ollama"] });
  const coder = await startFake({
    kind: "ollama",
    models: ["qwen2.5-coder:latest"],
    toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }],
  });
  const claude = await startFakeAnthropic({ apiKey: ANTHROPIC_KEY });
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
  strict:
    api_base: ${ollama.apiBase}
    models: [{ id: llama-strict, provider_model_id: "llama3.1:latest" }]
    compatibility: { chat_completions: { system_messages: user } }
  anthropic:
    api_base: ${claude.apiBase}
    api_key: \${ANTHROPIC_API_KEY}
    models: [claude-sonnet-4-5]
models:
  smart:
    endpoints:
      - { provider: gone, service_id: llama3.1 }
      - { provider: ollama, service_id: llama3.1 }
`,
    env: { ANTHROPIC_API_KEY: ANTHROPIC_KEY },
  });
  // As a user sets it up: OLLAMA_HOST pointing at BitRouter, the key as a header.
  const client = new Ollama({ host: router.url, headers: { Authorization: `Bearer ${KEY}` } });
  try {
    await t.step("chat, plain, from a chat upstream", async () => {
      const res = await client.chat({
        model: "ollama:llama3.1",
        messages: [{ role: "user", content: "hi" }],
        options: { temperature: 0.1, num_predict: 50 },
      });
      assert.equal(res.message.role, "assistant");
      assert.equal(res.message.content, "Hello from ollama");
      assert.equal(res.done, true);
      assert.equal(res.done_reason, "stop");
      assert.equal(res.prompt_eval_count, 12);
      assert.equal(res.eval_count, 3);
      assert.ok(res.total_duration > 0, "durations come from BitRouter's timing");
      const sent = ollama.requests.at(-1)!;
      assert.equal(sent.path, "/v1/chat/completions");
      const body = sent.body as Record<string, unknown>;
      assert.equal(body.max_tokens, 50);
      assert.equal(body.temperature, 0.1);
    });

    await t.step(
      "a virtual model fails over: NDJSON with the served-by headers, the down server tried first",
      async () => {
        const res = await fetch(`${router.url}/api/chat`, {
          method: "POST",
          headers: { authorization: `Bearer ${KEY}` },
          body: JSON.stringify({ model: "smart", messages: [{ role: "user", content: "hi" }] }),
        });
        assert.equal(res.headers.get("content-type"), "application/x-ndjson");
        assert.equal(res.headers.get("x-bitrouter-provider"), "ollama");
        assert.equal(res.headers.get("x-bitrouter-attempts"), "2");
        const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
        assert.equal(lines.at(-1).done, true);
      },
    );

    await t.step(
      "chat, streamed, through the virtual model (its down server now skipped)",
      async () => {
        const pieces: string[] = [];
        let last: Record<string, unknown> | undefined;
        for await (
          const part of await client.chat({
            model: "smart",
            messages: [{ role: "user", content: "hi" }],
            stream: true,
          })
        ) {
          pieces.push(part.message.content);
          last = part as unknown as Record<string, unknown>;
        }
        assert.deepEqual(pieces.filter((p) => p !== ""), ["Hello", " from", " ollama"]);
        assert.equal(last?.done, true);
        assert.equal(last?.eval_count, 3);
      },
    );

    await t.step("chat from a Messages upstream (Anthropic), streamed", async () => {
      let text = "";
      for await (
        const part of await client.chat({
          model: "claude-sonnet-4-5",
          messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "hi" }],
          stream: true,
        })
      ) text += part.message.content;
      assert.equal(text, "Hello from Claude");
      const sent = claude.requests.at(-1)!.body as Record<string, unknown>;
      assert.equal(sent.system, "Be brief.");
    });

    await t.step("generate, plain and streamed", async () => {
      const res = await client.generate({ model: "llama3.1", prompt: "hi", system: "Be brief." });
      assert.equal(res.response, "Hello from ollama");
      assert.equal(res.done_reason, "stop");
      let text = "";
      for await (
        const part of await client.generate({
          model: "claude-sonnet-4-5",
          prompt: "hi",
          stream: true,
        })
      ) text += part.response;
      assert.equal(text, "Hello from Claude");
    });

    await t.step(
      "tool calls come back with object arguments, and a tool result goes back",
      async () => {
        const tools = [{
          type: "function",
          function: {
            name: "get_weather",
            description: "Weather for a city",
            parameters: { type: "object", properties: { city: { type: "string" } } },
          },
        }];
        const res = await client.chat({
          model: "qwen2.5-coder",
          messages: [{ role: "user", content: "weather in Paris?" }],
          tools,
        });
        assert.deepEqual(
          res.message.tool_calls?.map((c) => [c.function.name, c.function.arguments]),
          [
            ["get_weather", { city: "Paris" }],
          ],
        );
        let streamed: unknown[] = [];
        for await (
          const part of await client.chat({
            model: "qwen2.5-coder",
            messages: [{ role: "user", content: "weather in Paris?" }],
            tools,
            stream: true,
          })
        ) streamed = [...streamed, ...(part.message.tool_calls ?? [])];
        assert.deepEqual(streamed, res.message.tool_calls);
        await client.chat({
          model: "qwen2.5-coder",
          messages: [
            { role: "user", content: "weather in Paris?" },
            { role: "assistant", content: "", tool_calls: res.message.tool_calls },
            { role: "tool", content: "18°C", tool_name: "get_weather" },
          ],
          tools,
        });
        const sent = coder.requests.at(-1)!.body as { messages: Record<string, unknown>[] };
        const call =
          (sent.messages[1].tool_calls as { id: string; function: { arguments: string } }[])[0];
        assert.equal(call.function.arguments, '{"city":"Paris"}');
        assert.deepEqual(sent.messages[2], {
          role: "tool",
          tool_call_id: call.id,
          content: "18°C",
        });
      },
    );

    await t.step("format with a JSON schema reaches the upstream as response_format", async () => {
      const schema = { type: "object", properties: { answer: { type: "string" } } };
      await client.chat({
        model: "llama3.1",
        messages: [{ role: "user", content: "hi" }],
        format: schema,
      });
      const body = ollama.requests.at(-1)!.body as Record<string, unknown>;
      assert.deepEqual(body.response_format, {
        type: "json_schema",
        json_schema: { name: "output", schema },
      });
    });

    await t.step(
      "a system turn after the first user turn: one system message first, as each provider says",
      async () => {
        const messages = [
          { role: "system", content: "Be brief." },
          { role: "user", content: "hi" },
          { role: "assistant", content: "Hello." },
          { role: "system", content: "cwd: /src" },
          { role: "user", content: "and now?" },
        ];
        const sent = () =>
          (ollama.requests.at(-1)!.body as { messages: { role: string; content: string }[] })
            .messages;
        await client.chat({ model: "ollama:llama3.1", messages, stream: false });
        assert.deepEqual(sent().map((m) => m.role), ["system", "user", "assistant", "user"]);
        assert.equal(sent()[0].content, "Be brief.\n\ncwd: /src");
        // A provider with `system_messages: user` keeps the turn in place, marked.
        await client.chat({ model: "strict:llama-strict", messages, stream: false });
        assert.deepEqual(sent().map((m) => m.content), [
          "Be brief.",
          "hi",
          "Hello.",
          "<system>\ncwd: /src\n</system>",
          "and now?",
        ]);
        assert.equal(sent().filter((m) => m.role === "system").length, 1);
      },
    );

    await t.step("embed and the older embeddings", async () => {
      const res = await client.embed({ model: "llama3.1", input: ["one", "two"] });
      assert.equal(res.embeddings.length, 2);
      assert.ok(res.embeddings[0].length > 0);
      assert.notDeepEqual(res.embeddings[0], res.embeddings[1]);
      const old = await client.embeddings({ model: "llama3.1", prompt: "one" });
      assert.deepEqual(old.embedding, res.embeddings[0]);
      assert.equal(ollama.requests.at(-1)!.path, "/v1/embeddings");
    });

    await t.step("list, ps, show and version answer from the route table", async () => {
      const list = await client.list();
      const names = list.models.map((m) => m.name);
      for (const id of ["llama3.1", "qwen2.5-coder", "claude-sonnet-4-5", "smart"]) {
        assert.ok(names.includes(id), `${id} in ${names}`);
      }
      const entry = list.models.find((m) => m.name === "llama3.1")!;
      assert.equal(entry.size, 0, "unknown sizes are zero, not invented");
      assert.equal(entry.digest, "");
      const ps = await client.ps();
      assert.ok(Array.isArray(ps.models));
      const show = await client.show({ model: "smart" });
      assert.deepEqual(show.capabilities, ["completion"]);
      assert.match((await client.version()).version, /^\d+\.\d+\.\d+$/);
    });

    await t.step("an unknown model is a readable ResponseError with status 404", async () => {
      await assert.rejects(
        client.chat({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] }),
        (e: unknown) => {
          const err = e as { name: string; status_code: number; message: string };
          return err.name === "ResponseError" && err.status_code === 404 &&
            /no-such-model/.test(err.message) && !/object Object/.test(err.message);
        },
      );
    });

    await t.step("a wrong key is a ResponseError with status 401", async () => {
      const wrong = new Ollama({ host: router.url, headers: { Authorization: "Bearer nope" } });
      await assert.rejects(
        wrong.list(),
        (e: unknown) => {
          const err = e as { status_code: number; message: string };
          return err.status_code === 401 && /API key/.test(err.message);
        },
      );
    });

    await t.step("pull is 501 with a message to run it on the Ollama server", async () => {
      await assert.rejects(
        client.pull({ model: "llama3.1" }),
        (e: unknown) => {
          const err = e as { status_code: number; message: string };
          return err.status_code === 501 && /ollama pull/.test(err.message);
        },
      );
    });
  } finally {
    await router.stop();
    await Promise.all([ollama.close(), coder.close(), claude.close()]);
  }
});
