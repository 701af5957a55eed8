/**
 * Graceful drain through the real CLI: on SIGTERM no new connections are accepted, running
 * requests get `server.shutdown_grace_secs` to finish, then every one left is ended the way its
 * client's SDK reports as an error, its upstream is aborted, and the process exits 0 — in bounded
 * time, and at once on a second signal.
 */
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { type FakeUpstream, startFake } from "../fakes/upstream.ts";
import { type RunningRouter, startRouter, until, within } from "../e2e/helpers.ts";

const hi = [{ role: "user" as const, content: "hi" }];

/** One router over an Ollama fake (`m`) and a fake that never answers (`stuck`). */
function configFor(ollama: FakeUpstream, stuck: FakeUpstream, graceSecs: number): string {
  return `
server: { shutdown_grace_secs: ${graceSecs}, watch: false }
upstream: { timeouts: { first_byte_secs: 60, idle_secs: 60 } }
providers:
  ollama: { api_base: "${ollama.apiBase}", models: [{ id: m, provider_model_id: "llama3.1:latest" }] }
  stuck: { api_base: "${stuck.apiBase}", models: [gpt-4o-mini] }
`;
}

/**
 * Resolves with how long it took until a new TCP connection to the router was refused, or
 * undefined when one was still accepted after ms. Deno closes the listener a moment after
 * shutdown() is called, so a connection made in that moment is accepted (and then reset).
 */
async function refusedWithin(router: RunningRouter, ms: number): Promise<number | undefined> {
  const port = Number(new URL(router.url).port);
  const started = performance.now();
  while (performance.now() - started < ms) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
    } catch (e) {
      if (e instanceof Deno.errors.ConnectionRefused) return performance.now() - started;
      if (!(e instanceof Deno.errors.ConnectionReset)) throw e;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return undefined;
}

async function withFakes(
  ollamaOptions: { chunkDelayMs?: number; content?: string[] },
  body: (ollama: FakeUpstream, stuck: FakeUpstream) => Promise<void>,
): Promise<void> {
  const ollama = await startFake({ kind: "ollama", ...ollamaOptions });
  const stuck = await startFake({ kind: "openai" });
  stuck.fault = { type: "hang" };
  try {
    await body(ollama, stuck);
  } finally {
    await Promise.all([ollama.close(), stuck.close()]);
  }
}

Deno.test("SIGTERM during a stream that finishes within the grace period: the whole answer, no new connections, exit 0", async () => {
  const content = ["one", " two", " three", " four", " five", " six"];
  await withFakes({ chunkDelayMs: 200, content }, async (ollama, stuck) => {
    const router = await startRouter({ config: configFor(ollama, stuck, 20) });
    let signalledAt = 0;
    try {
      const client = new OpenAI({ baseURL: router.apiBase, apiKey: "x", maxRetries: 0 });
      const stream = await client.chat.completions.create({
        model: "m",
        messages: hi,
        stream: true,
      });
      const pieces: string[] = [];
      let finish: string | null = null;
      let refusedAfter: number | undefined;
      for await (const chunk of stream) {
        const text = chunk.choices[0]?.delta?.content;
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (!text) continue;
        pieces.push(text);
        if (pieces.length !== 1) continue;
        router.kill("SIGTERM");
        signalledAt = performance.now();
        await router.waitForStderr(/SIGTERM: no new connections; .* up to 20s/, 5_000);
        refusedAfter = await refusedWithin(router, 500);
      }
      assert.ok(
        refusedAfter !== undefined,
        "new connections were still accepted 500 ms after SIGTERM, while the stream ran",
      );
      assert.deepEqual(pieces, content);
      assert.equal(finish, "stop");
      const endedAt = performance.now();

      const status = await within(router.exited, 5_000, "no exit after the stream finished");
      assert.equal(status.code, 0, router.stderr());
      const exitAfter = performance.now() - endedAt;
      assert.ok(exitAfter < 1_500, `exited ${exitAfter.toFixed(0)} ms after the last request`);
      // (The SDK itself cancels the body once it has read [DONE], so the upstream sees a cancel.)
      assert.doesNotMatch(router.stderr(), /ended \d+ running request|outcome=shutdown/);
    } finally {
      await router.stop();
    }
    assert.ok(signalledAt > 0);
  });
});

Deno.test("SIGTERM with streams outlasting the grace period: each client gets its protocol's error, upstreams are aborted, exit 0 in bounded time", async () => {
  await withFakes({}, async (ollama, stuck) => {
    // Every stream sends its first events, then nothing until aborted.
    ollama.fault = { type: "stall_after", chunks: 2 };
    const router = await startRouter({ config: configFor(ollama, stuck, 0.3) });
    try {
      const openai = new OpenAI({ baseURL: router.apiBase, apiKey: "x", maxRetries: 0 });
      const anthropic = new Anthropic({ baseURL: router.url, apiKey: "x", maxRetries: 0 });

      // Chat Completions, same protocol as the upstream, through the openai SDK.
      const chatStream = await openai.chat.completions.create({
        model: "m",
        messages: hi,
        stream: true,
      });
      const chatIter = chatStream[Symbol.asyncIterator]();
      const chatText: string[] = [];
      while (chatText.join("") !== "Hello") {
        const next = await chatIter.next();
        assert.ok(!next.done, "the chat stream ended early");
        chatText.push(next.value.choices[0]?.delta?.content ?? "");
      }
      const chatRest = (async () => {
        for (let n = await chatIter.next(); !n.done; n = await chatIter.next()) { /* drain */ }
      })().then(() => undefined, (e) => e);

      // Messages, translated to the chat upstream, through the Anthropic SDK.
      const messagesStream = await anthropic.messages.create({
        model: "m",
        max_tokens: 50,
        messages: hi,
        stream: true,
      });
      const messagesIter = messagesStream[Symbol.asyncIterator]();
      for (;;) {
        const next = await messagesIter.next();
        assert.ok(!next.done, "the messages stream ended early");
        if (next.value.type === "content_block_delta") break;
      }
      const messagesRest = (async () => {
        for (let n = await messagesIter.next(); !n.done; n = await messagesIter.next()) {
          assert.notEqual(n.value.type, "message_stop");
        }
      })().then(() => undefined, (e) => e);

      // Responses, translated, read raw.
      const responses = await fetch(`${router.apiBase}/responses`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "m", input: "hi", stream: true }),
      });
      const responsesReader = responses.body!.pipeThrough(new TextDecoderStream()).getReader();
      let responsesText = "";
      while (!responsesText.includes("output_text.delta")) {
        const r = await responsesReader.read();
        assert.ok(!r.done, "the responses stream ended early");
        responsesText += r.value;
      }
      const responsesRest = (async () => {
        for (let r = await responsesReader.read(); !r.done; r = await responsesReader.read()) {
          responsesText += r.value;
        }
      })();

      // Two requests still waiting for their upstream's headers.
      const chatPending = openai.chat.completions.create({ model: "gpt-4o-mini", messages: hi })
        .then(() => undefined, (e) => e);
      const messagesPending = anthropic.messages.create({
        model: "gpt-4o-mini",
        max_tokens: 50,
        messages: hi,
      }).then(() => undefined, (e) => e);
      await until(() => stuck.requests.length === 2, 5_000, "the pending requests never arrived");
      assert.equal(ollama.requests.length, 3);

      const signalledAt = performance.now();
      router.kill("SIGTERM");

      const chatError = await within(chatRest, 5_000, "the chat stream never ended");
      assert.ok(chatError instanceof OpenAI.APIError, `chat stream ended with ${chatError}`);
      assert.match(chatError.message, /BitRouter is shutting down/);
      const endedAt = performance.now() - signalledAt;
      assert.ok(endedAt >= 250, `streams ended ${endedAt.toFixed(0)} ms after SIGTERM: no grace`);

      const messagesError = await within(messagesRest, 5_000, "the messages stream never ended");
      assert.ok(
        messagesError instanceof Anthropic.APIError,
        `messages stream ended with ${messagesError}`,
      );
      assert.match(messagesError.message, /BitRouter is shutting down/);

      await within(responsesRest, 5_000, "the responses stream never ended");
      assert.match(responsesText, /event: response\.failed\ndata: .*BitRouter is shutting down/);
      assert.doesNotMatch(responsesText, /response\.completed/);

      const chatWaiting = await within(chatPending, 5_000, "no answer to the pending chat");
      assert.ok(chatWaiting instanceof OpenAI.APIError, `pending chat got ${chatWaiting}`);
      assert.equal(chatWaiting.status, 503);
      assert.equal(chatWaiting.code, "shutting_down");
      const messagesWaiting = await within(
        messagesPending,
        5_000,
        "no answer to the pending messages",
      );
      assert.ok(
        messagesWaiting instanceof Anthropic.APIError,
        `pending messages got ${messagesWaiting}`,
      );
      assert.equal(messagesWaiting.status, 503);
      assert.match(messagesWaiting.message, /BitRouter is shutting down/);

      const status = await within(router.exited, 5_000, "no exit after the grace period");
      const exitAfter = performance.now() - signalledAt;
      assert.equal(status.code, 0, router.stderr());
      assert.ok(exitAfter < 3_000, `exit ${exitAfter.toFixed(0)} ms after SIGTERM`);
      for (const r of [...ollama.requests, ...stuck.requests]) {
        assert.ok(r.abortedAt !== undefined, `upstream ${r.path} never saw the abort`);
      }
      assert.match(
        router.stderr(),
        /shutdown grace period of 0\.3s is over: ended 5 running request\(s\)/,
      );
    } finally {
      await router.stop();
    }
  });
});

Deno.test("a second SIGTERM during the drain ends the rest at once and exits", async () => {
  await withFakes({}, async (ollama, stuck) => {
    ollama.fault = { type: "stall_after", chunks: 2 };
    const router = await startRouter({ config: configFor(ollama, stuck, 60) });
    try {
      const response = await fetch(`${router.apiBase}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "m", messages: hi, stream: true }),
      });
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("Hello")) text += (await reader.read()).value ?? "";
      const rest = (async () => {
        for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
      })();

      router.kill("SIGTERM");
      await router.waitForStderr(/SIGTERM: no new connections; .* up to 60s/, 5_000);
      const secondAt = performance.now();
      router.kill("SIGINT");
      const status = await within(router.exited, 3_000, "no exit after the second signal");
      assert.equal(status.code, 0, router.stderr());
      assert.ok(performance.now() - secondAt < 2_500);
      await within(rest, 2_000, "the stream never ended");
      const events = text.split("\n\n").filter((e) => e.trim() !== "");
      assert.match(events.at(-1)!, /^data: \{"error":\{"message":"BitRouter is shutting down/);
      assert.doesNotMatch(text, /\[DONE\]/);
      assert.match(router.stderr(), /SIGINT again: ended 1 running request\(s\)/);
      assert.ok(ollama.requests[0].abortedAt !== undefined, "the upstream never saw the abort");
    } finally {
      await router.stop();
    }
  });
});
