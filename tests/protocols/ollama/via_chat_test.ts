import assert from "node:assert/strict";
import { Ollama } from "ollama";
import {
  ollamaChatViaChat,
  ollamaGenerateViaChat,
} from "../../../src/protocols/ollama/via_chat.ts";
import type { TranslationContext } from "../../../src/protocols/translation.ts";
import { TranslationError } from "../../../src/protocols/translation.ts";
import { framerFor } from "../../../src/proxy/framing.ts";
import {
  assertGolden,
  CTX,
  fixture,
  fixtureObject,
  translateEventByEvent,
  upstreamEvents,
} from "../golden.ts";

/** A context whose clock moves 5 ms at every read, so durations are fixed and non-zero. */
function clocked(upstreamKind?: string): TranslationContext {
  let t = 1000;
  return { ...CTX, startedAtMs: 1000, now: () => (t += 5), upstreamKind };
}

Deno.test("an Ollama chat request becomes a chat request: images, tool calls by name, options, format, think", () => {
  const out = ollamaChatViaChat.request(fixtureObject("ollama_chat_request.json"), clocked());
  assertGolden(out, "ollama_via_chat.ollama_chat_request.json");
  // Each tool result answers the call of its tool, whatever the order of the results.
  const messages = out.messages as Record<string, unknown>[];
  const results = messages.filter((m) => m.role === "tool").map((m) => m.tool_call_id);
  assert.deepEqual(results, ["call_1", "call_0"]);
  // top_k is for servers that take it; OpenAI's API would answer 400.
  assert.equal(out.top_k, undefined);
  const forVllm = ollamaChatViaChat.request(
    fixtureObject("ollama_chat_request.json"),
    clocked("vllm"),
  );
  assert.equal(forVllm.top_k, 40);
});

Deno.test("an Ollama generate request becomes system + user turns, json format, no unlimited num_predict", () => {
  const out = ollamaGenerateViaChat.request(fixtureObject("ollama_generate_request.json"), CTX);
  assertGolden(out, "ollama_via_chat.ollama_generate_request.json");
  assert.equal(out.stream, undefined);
  assert.equal(out.max_tokens, undefined);
});

Deno.test("a generate request with a suffix is refused: fill-in-the-middle has no chat form", () => {
  assert.throws(
    () => ollamaGenerateViaChat.request({ model: "m", prompt: "a", suffix: "b" }, CTX),
    (e: unknown) => e instanceof TranslationError && /suffix/.test(e.message),
  );
});

Deno.test("a streamed chat answer with tool calls becomes Ollama objects, the calls whole before the final one", () => {
  const translator = ollamaChatViaChat.stream(clocked());
  const out = translateEventByEvent(translator, upstreamEvents("chat_stream_openai_tools.json"));
  assert.equal(translator.finished, true);
  assertGolden(out, "ollama_via_chat.chat_stream_openai_tools.json");
  const last = out.flat().at(-1)!.data as Record<string, unknown>;
  assert.equal(last.done, true);
  assert.equal(last.done_reason, "stop");
  assert.equal(last.eval_count, 58);
  assert.ok((last.total_duration as number) > 0);
});

Deno.test("streamed reasoning arrives as message.thinking, and not at all with think: false", () => {
  const ctx = clocked();
  const translator = ollamaChatViaChat.stream(ctx);
  const lines = upstreamEvents("chat_stream_ollama_reasoning.json").flatMap((e) =>
    translator.push(e)
  );
  const thinking = lines.map((l) => JSON.parse(l.data).message?.thinking ?? "").join("");
  assert.equal(thinking, "The user asks why.");
  const quiet = clocked();
  ollamaChatViaChat.request({ model: "m", messages: [], think: false }, quiet);
  const hidden = ollamaChatViaChat.stream(quiet);
  const none = upstreamEvents("chat_stream_ollama_reasoning.json").flatMap((e) => hidden.push(e));
  assert.ok(none.every((l) => JSON.parse(l.data).message?.thinking === undefined));
});

Deno.test("a whole answer becomes one done object; generate's carries `response`", () => {
  const chat = ollamaChatViaChat.response(fixture("chat_answer_tool_calls.json"), clocked());
  assertGolden(chat, "ollama_via_chat.chat_answer_tool_calls.json");
  const generate = ollamaGenerateViaChat.response(
    fixture("chat_answer_ollama_length.json"),
    clocked(),
  ) as Record<string, unknown>;
  assert.equal(generate.done_reason, "length");
  assert.equal(typeof generate.response, "string");
  assert.equal(generate.message, undefined);
});

Deno.test("errors are Ollama's {error: string}, mid-stream too", () => {
  assert.deepEqual(ollamaChatViaChat.error(404, { error: { message: "model 'x' not found" } }), {
    error: "model 'x' not found",
  });
  const translator = ollamaChatViaChat.stream(CTX);
  const out = translateEventByEvent(translator, upstreamEvents("chat_stream_error.json")).flat();
  assert.match(String((out.at(-1)!.data as { error: string }).error), /engine died/);
});

/** A fetch answering with these NDJSON lines, one line per chunk. */
function ndjsonFetch(text: string): typeof fetch {
  return () => {
    const lines = text.split(/(?<=\n)/);
    let i = 0;
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (i === lines.length) return c.close();
        c.enqueue(encoder.encode(lines[i++]));
      },
    });
    return Promise.resolve(
      new Response(body, { headers: { "content-type": "application/x-ndjson" } }),
    );
  };
}

Deno.test("the ollama library reads the translated NDJSON stream: text, tool calls, done", async () => {
  const translator = ollamaChatViaChat.stream(clocked());
  const events = upstreamEvents("chat_stream_openai_tools.json").flatMap((e) => translator.push(e));
  const framer = framerFor("ndjson");
  const client = new Ollama({
    host: "http://bitrouter.test",
    fetch: ndjsonFetch(framer.events(events)),
  });
  let text = "";
  const calls: unknown[] = [];
  let done: Record<string, unknown> | undefined;
  for await (const part of await client.chat({ model: "m", messages: [], stream: true })) {
    text += part.message.content;
    calls.push(...(part.message.tool_calls ?? []));
    if (part.done) done = part as unknown as Record<string, unknown>;
  }
  assert.equal(text, "Formatting now.");
  assert.deepEqual(
    calls.map((c) => (c as { function: { arguments: unknown } }).function.arguments),
    [
      { command: "deno fmt" },
      { file_path: "/tmp/a.ts" },
    ],
  );
  assert.equal(done?.done_reason, "stop");
});

Deno.test("the ollama library raises an Error for the error line of a stream that broke", async () => {
  const translator = ollamaChatViaChat.stream(CTX);
  const events = upstreamEvents("chat_stream_openai_tools.json").slice(0, 3).flatMap((e) =>
    translator.push(e)
  );
  events.push(...translator.fail("the stream from ollama broke off: idle for 120s"));
  const client = new Ollama({
    host: "http://bitrouter.test",
    fetch: ndjsonFetch(framerFor("ndjson").events(events)),
  });
  await assert.rejects(async () => {
    for await (
      const _ of await client.chat({ model: "m", messages: [], stream: true })
    ) { /* drain */ }
  }, /broke off: idle for 120s/);
});

Deno.test("an Ollama chat reaches a chat upstream with one system message first, as the provider's system_messages says", () => {
  const body = {
    model: "llama3.1",
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "hi" },
      { role: "assistant", content: "Hello." },
      { role: "system", content: "# Environment\ncwd: /src" },
      { role: "user", content: "and now?" },
    ],
    stream: false,
  };
  const sent = (mode?: "merge" | "user" | "keep") =>
    ollamaChatViaChat.request(structuredClone(body), { ...clocked(), systemMessages: mode })
      .messages;
  const merged = [
    { role: "system", content: "Be brief.\n\n# Environment\ncwd: /src" },
    { role: "user", content: "hi" },
    { role: "assistant", content: "Hello." },
    { role: "user", content: "and now?" },
  ];
  assert.deepEqual(sent(), merged);
  assert.deepEqual(sent("merge"), merged);
  assert.deepEqual(sent("user"), [
    { role: "system", content: "Be brief." },
    { role: "user", content: "hi" },
    { role: "assistant", content: "Hello." },
    { role: "user", content: "<system>\n# Environment\ncwd: /src\n</system>" },
    { role: "user", content: "and now?" },
  ]);
  assert.deepEqual(sent("keep"), body.messages);
  // /api/generate's `system` is the one system message, first.
  const generated = ollamaGenerateViaChat.request(
    { model: "llama3.1", system: "Be brief.", prompt: "hi" },
    clocked(),
  );
  assert.deepEqual(generated.messages, [
    { role: "system", content: "Be brief." },
    { role: "user", content: "hi" },
  ]);
});
