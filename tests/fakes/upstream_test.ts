import assert from "node:assert/strict";
import OpenAI from "openai";
import { type FakeKind, refusedApiBase, startFake } from "./upstream.ts";
import { within } from "../e2e/helpers.ts";

const KINDS: FakeKind[] = ["ollama", "vllm", "lmstudio", "llamacpp", "openai"];

function post(url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...init.headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: init.signal,
  });
}

interface TimedEvent {
  data: string;
  at: number;
}

/** Reads an SSE body to its end, noting when each `data:` event arrived. */
async function readEvents(response: Response): Promise<TimedEvent[]> {
  const events: TimedEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const bytes of response.body!) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of block.split("\n")) {
        if (line.startsWith("data: ")) {
          events.push({ data: line.slice(6), at: performance.now() });
        }
      }
    }
  }
  assert.equal(buffer, "", "stream ended on a partial event");
  return events;
}

const chat = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: "user", content: "hi" }],
  ...extra,
});

for (const kind of KINDS) {
  Deno.test(`${kind}: plain chat completion has OpenAI's shape and echoes the model`, async () => {
    const fake = await startFake({ kind });
    try {
      const model = (await (await fetch(`${fake.apiBase}/models`)).json()).data[0].id;
      const response = await post(`${fake.apiBase}/chat/completions`, chat(model));
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type")!, /^application\/json/);
      const body = await response.json();
      assert.equal(body.object, "chat.completion");
      assert.equal(body.model, model);
      assert.match(body.id, /^chatcmpl-/);
      assert.equal(typeof body.created, "number");
      assert.deepEqual(body.choices[0].message, {
        role: "assistant",
        content: `Hello from ${kind}`,
      });
      assert.equal(body.choices[0].finish_reason, "stop");
      assert.equal(
        body.usage.total_tokens,
        body.usage.prompt_tokens + body.usage.completion_tokens,
      );
      assert.equal(fake.requests.length, 2);
      assert.deepEqual(fake.requests[1].body, chat(model));
      assert.equal(fake.requests[1].path, "/v1/chat/completions");
    } finally {
      await fake.close();
    }
  });

  Deno.test(`${kind}: stream sends role chunk, content chunks, finish chunk, [DONE]`, async () => {
    const fake = await startFake({ kind, content: ["a", "b", "c"] });
    try {
      const model = (await (await fetch(`${fake.apiBase}/models`)).json()).data[0].id;
      const response = await post(
        `${fake.apiBase}/chat/completions`,
        chat(model, { stream: true }),
      );
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type")!, /^text\/event-stream/);
      const events = await readEvents(response);
      assert.equal(events.at(-1)!.data, "[DONE]");
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
      assert.equal(chunks.length, 5);
      for (const c of chunks) {
        assert.equal(c.object, "chat.completion.chunk");
        assert.equal(c.model, model);
        assert.equal(c.usage, undefined);
      }
      assert.equal(chunks[0].choices[0].delta.role, "assistant");
      assert.deepEqual(chunks.slice(1, 4).map((c) => c.choices[0].delta.content), ["a", "b", "c"]);
      assert.equal(chunks[3].choices[0].finish_reason, null);
      assert.equal(chunks[4].choices[0].finish_reason, "stop");
    } finally {
      await fake.close();
    }
  });

  Deno.test(`${kind}: malformed JSON is a 400 in the server's own envelope`, async () => {
    const fake = await startFake({ kind });
    try {
      const response = await post(`${fake.apiBase}/chat/completions`, "{not json");
      assert.equal(response.status, 400);
      const body = await response.json();
      assert.equal(typeof body.error.message, "string");
      assert.equal(fake.requests[0].body, "{not json");
    } finally {
      await fake.close();
    }
  });
}

Deno.test("stream events are flushed one by one, chunkDelayMs apart", async () => {
  const fake = await startFake({ kind: "ollama", chunkDelayMs: 40, content: ["1", "2", "3"] });
  try {
    const response = await post(
      `${fake.apiBase}/chat/completions`,
      chat("llama3.1", { stream: true }),
    );
    const events = await readEvents(response);
    assert.equal(events.length, 6);
    const gaps = events.slice(1).map((e, i) => e.at - events[i].at);
    for (const gap of gaps) assert.ok(gap >= 25, `events arrived ${gap.toFixed(1)} ms apart`);
  } finally {
    await fake.close();
  }
});

Deno.test("stream_options.include_usage adds a final usage chunk before [DONE]", async () => {
  const fake = await startFake({ kind: "openai" });
  try {
    const response = await post(
      `${fake.apiBase}/chat/completions`,
      chat("gpt-4o-mini", { stream: true, stream_options: { include_usage: true } }),
    );
    const events = await readEvents(response);
    assert.equal(events.at(-1)!.data, "[DONE]");
    const last = JSON.parse(events.at(-2)!.data);
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage.completion_tokens, 3);
    assert.equal(JSON.parse(events[0].data).usage, null);
  } finally {
    await fake.close();
  }
});

Deno.test("completions answer text_completion, plain and streamed", async () => {
  const fake = await startFake({ kind: "vllm", content: ["x", "y"] });
  try {
    const model = "meta-llama/Llama-3.1-8B-Instruct";
    const plain = await (await post(`${fake.apiBase}/completions`, { model, prompt: "p" })).json();
    assert.equal(plain.object, "text_completion");
    assert.equal(plain.choices[0].text, "xy");
    const streamed = await readEvents(
      await post(`${fake.apiBase}/completions`, { model, prompt: "p", stream: true }),
    );
    assert.deepEqual(
      streamed.slice(0, -1).map((e) => JSON.parse(e.data).choices[0].text),
      ["x", "y", ""],
    );
    assert.equal(streamed.at(-1)!.data, "[DONE]");
  } finally {
    await fake.close();
  }
});

Deno.test("embeddings answer one vector per input, as floats or base64", async () => {
  const fake = await startFake({ kind: "openai" });
  try {
    const url = `${fake.apiBase}/embeddings`;
    const model = "text-embedding-3-small";
    const one = await (await post(url, { model, input: "hello" })).json();
    assert.equal(one.object, "list");
    assert.equal(one.model, model);
    assert.equal(one.data.length, 1);
    assert.equal(one.data[0].object, "embedding");
    assert.equal(one.data[0].embedding.length, 8);
    const many = await (await post(url, { model, input: ["hello", "world"] })).json();
    assert.deepEqual(many.data.map((d: { index: number }) => d.index), [0, 1]);
    assert.deepEqual(many.data[0].embedding, one.data[0].embedding);
    assert.notDeepEqual(many.data[1].embedding, one.data[0].embedding);
    const b64 = await (await post(url, { model, input: "hello", encoding_format: "base64" }))
      .json();
    const bytes = Uint8Array.from(atob(b64.data[0].embedding), (c) => c.charCodeAt(0));
    assert.deepEqual(Array.from(new Float32Array(bytes.buffer)), one.data[0].embedding);
  } finally {
    await fake.close();
  }
});

Deno.test("ollama: a bare name means :latest, an unpulled model is Ollama's 404", async () => {
  const fake = await startFake({ kind: "ollama" });
  try {
    const ok = await post(`${fake.apiBase}/chat/completions`, chat("llama3.1"));
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).model, "llama3.1");
    const missing = await post(`${fake.apiBase}/chat/completions`, chat("mistral:7b"));
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), {
      error: {
        message: "model 'mistral:7b' not found",
        type: "not_found_error",
        param: null,
        code: null,
      },
    });
  } finally {
    await fake.close();
  }
});

Deno.test("vllm and openai: an unknown model is a 404 in their envelopes", async () => {
  const vllm = await startFake({ kind: "vllm" });
  const openai = await startFake({ kind: "openai" });
  try {
    const v = await post(`${vllm.apiBase}/chat/completions`, chat("gpt-4o"));
    assert.equal(v.status, 404);
    assert.deepEqual((await v.json()).error, {
      message: "The model `gpt-4o` does not exist.",
      type: "NotFoundError",
      param: null,
      code: 404,
    });
    const o = await post(`${openai.apiBase}/chat/completions`, chat("gpt-9"));
    assert.equal(o.status, 404);
    const error = (await o.json()).error;
    assert.equal(error.code, "model_not_found");
    assert.equal(error.type, "invalid_request_error");
  } finally {
    await vllm.close();
    await openai.close();
  }
});

Deno.test("llamacpp and lmstudio serve their one model whatever is asked, else check", async () => {
  const llama = await startFake({ kind: "llamacpp" });
  const single = await startFake({ kind: "lmstudio" });
  const several = await startFake({ kind: "lmstudio", models: ["qwen2.5-7b", "phi-4"] });
  try {
    const a = await post(`${llama.apiBase}/chat/completions`, chat("anything"));
    assert.equal(a.status, 200);
    await a.body!.cancel();
    const b = await post(`${single.apiBase}/chat/completions`, chat("anything"));
    assert.equal(b.status, 200);
    await b.body!.cancel();
    const c = await post(`${several.apiBase}/chat/completions`, chat("phi-4"));
    assert.equal(c.status, 200);
    await c.body!.cancel();
    const d = await post(`${several.apiBase}/chat/completions`, chat("anything"));
    assert.equal(d.status, 400);
    const error = (await d.json()).error;
    assert.equal(error.code, "model_not_found");
    assert.match(error.message, /Invalid model identifier "anything"/);
  } finally {
    await llama.close();
    await single.close();
    await several.close();
  }
});

Deno.test("apiKey: 401 without or with a wrong key, 200 with it; headers are recorded", async () => {
  const fake = await startFake({ kind: "openai", apiKey: "sk-test-1234567890" });
  try {
    const url = `${fake.apiBase}/chat/completions`;
    const none = await post(url, chat("gpt-4o-mini"));
    assert.equal(none.status, 401);
    assert.equal((await none.json()).error.type, "invalid_request_error");
    const wrong = await post(url, chat("gpt-4o-mini"), {
      headers: { authorization: "Bearer sk-wrong-abcdefgh" },
    });
    assert.equal(wrong.status, 401);
    const wrongError = (await wrong.json()).error;
    assert.equal(wrongError.code, "invalid_api_key");
    assert.doesNotMatch(wrongError.message, /sk-wrong-abcdefgh/);
    const right = await post(url, chat("gpt-4o-mini"), {
      headers: { authorization: "Bearer sk-test-1234567890" },
    });
    assert.equal(right.status, 200);
    await right.body!.cancel();
    assert.deepEqual(
      fake.requests.map((r) => r.headers.get("authorization")),
      [null, "Bearer sk-wrong-abcdefgh", "Bearer sk-test-1234567890"],
    );
  } finally {
    await fake.close();
  }
});

Deno.test("vllm with --api-key answers its own 401", async () => {
  const fake = await startFake({ kind: "vllm", apiKey: "token-abc123" });
  try {
    const response = await fetch(`${fake.apiBase}/models`);
    assert.equal(response.status, 401);
    assert.deepEqual(await response.json(), { error: "Unauthorized" });
    const version = await fetch(`${fake.url}/version`);
    assert.equal(version.status, 200, "non-/v1 paths need no key");
    assert.equal(typeof (await version.json()).version, "string");
  } finally {
    await fake.close();
  }
});

Deno.test("discovery endpoints have the servers' shapes", async () => {
  const ollama = await startFake({ kind: "ollama", models: ["llama3.1:latest", "qwen2.5:7b"] });
  const llama = await startFake({ kind: "llamacpp" });
  const vllm = await startFake({ kind: "vllm" });
  try {
    assert.equal(await (await fetch(ollama.url)).text(), "Ollama is running");
    assert.match((await (await fetch(`${ollama.url}/api/version`)).json()).version, /^\d+\.\d+/);
    const tags = await (await fetch(`${ollama.url}/api/tags`)).json();
    assert.deepEqual(tags.models.map((m: { name: string }) => m.name), [
      "llama3.1:latest",
      "qwen2.5:7b",
    ]);
    assert.equal(tags.models[0].details.format, "gguf");
    assert.deepEqual((await (await fetch(`${ollama.url}/api/ps`)).json()).models, []);
    await (await post(`${ollama.apiBase}/chat/completions`, chat("qwen2.5:7b"))).body!.cancel();
    const ps = await (await fetch(`${ollama.url}/api/ps`)).json();
    assert.deepEqual(ps.models.map((m: { name: string }) => m.name), ["qwen2.5:7b"]);
    const list = await (await fetch(`${ollama.apiBase}/models`)).json();
    assert.equal(list.object, "list");
    assert.deepEqual(list.data[0], {
      id: "llama3.1:latest",
      object: "model",
      created: list.data[0].created,
      owned_by: "library",
    });

    assert.deepEqual(await (await fetch(`${llama.url}/health`)).json(), { status: "ok" });
    const props = await (await fetch(`${llama.url}/props`)).json();
    assert.equal(props.default_generation_settings.n_ctx, 4096);
    assert.match(props.model_path, /\.gguf$/);

    assert.equal(typeof (await (await fetch(`${vllm.url}/version`)).json()).version, "string");
    const models = await (await fetch(`${vllm.apiBase}/models`)).json();
    assert.equal(models.data[0].owned_by, "vllm");
    assert.equal(models.data[0].root, models.data[0].id);
  } finally {
    await ollama.close();
    await llama.close();
    await vllm.close();
  }
});

Deno.test("fault status: 429 with Retry-After, and a 500 HTML page", async () => {
  const fake = await startFake({ kind: "openai" });
  try {
    fake.fault = { type: "status", status: 429, headers: { "retry-after": "7" } };
    const limited = await post(`${fake.apiBase}/chat/completions`, chat("gpt-4o-mini"));
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "7");
    assert.equal(typeof (await limited.json()).error.message, "string");

    fake.fault = { type: "status", status: 500, body: "<html><body>oops</body></html>" };
    const broken = await post(`${fake.apiBase}/chat/completions`, chat("gpt-4o-mini"));
    assert.equal(broken.status, 500);
    assert.match(broken.headers.get("content-type")!, /^text\/html/);
    assert.equal(await broken.text(), "<html><body>oops</body></html>");

    fake.fault = { type: "none" };
    const fine = await post(`${fake.apiBase}/chat/completions`, chat("gpt-4o-mini"));
    assert.equal(fine.status, 200);
    await fine.body!.cancel();
  } finally {
    await fake.close();
  }
});

Deno.test("fault hang: no headers until the client aborts, and the abort is seen", async () => {
  const fake = await startFake({ kind: "ollama" });
  try {
    fake.fault = { type: "hang" };
    const controller = new AbortController();
    const pending = post(`${fake.apiBase}/chat/completions`, chat("llama3.1"), {
      signal: controller.signal,
    });
    const settled = await Promise.race([
      pending.then(() => "answered", () => "failed"),
      new Promise((resolve) => setTimeout(resolve, 150, "hanging")),
    ]);
    assert.equal(settled, "hanging");
    assert.equal(fake.requests.length, 1);
    const seen = fake.nextAbort();
    const abortedAt = performance.now();
    controller.abort();
    await assert.rejects(pending);
    const at = await within(seen, 1000, "abort");
    assert.ok(at - abortedAt < 100, `abort noticed after ${(at - abortedAt).toFixed(1)} ms`);
    assert.equal(fake.requests[0].abortedAt, at);
  } finally {
    await fake.close();
  }
});

Deno.test("fault hang: the abort is seen whatever the request's size", async () => {
  // Deno.serve alone misses disconnects after requests over ~512 bytes; the fake must not.
  const fake = await startFake({ kind: "openai" });
  try {
    fake.fault = { type: "hang" };
    for (const size of [10, 500, 2_000, 50_000]) {
      const controller = new AbortController();
      const before = fake.requests.length;
      const pending = post(
        `${fake.apiBase}/chat/completions`,
        { model: "gpt-4o-mini", messages: [{ role: "user", content: "x".repeat(size) }] },
        { signal: controller.signal },
      );
      pending.catch(() => {});
      while (fake.requests.length === before) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const seen = fake.nextAbort();
      const abortedAt = performance.now();
      controller.abort();
      await assert.rejects(pending);
      const at = await within(seen, 1000, `abort of a ${size}-byte prompt`);
      assert.ok(at - abortedAt < 100, `${size}: noticed after ${(at - abortedAt).toFixed(1)} ms`);
    }
  } finally {
    await fake.close();
  }
});

Deno.test("fault hang: close() releases a request that is still hanging", async () => {
  const fake = await startFake({ kind: "vllm" });
  fake.fault = { type: "hang" };
  const pending = fetch(`${fake.apiBase}/models`);
  while (fake.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const started = performance.now();
  await fake.close();
  assert.ok(performance.now() - started < 1000, "close() waited on a hanging request");
  const response = await pending.catch(() => undefined);
  await response?.body?.cancel();
  assert.equal(fake.requests[0].abortedAt, undefined, "closing is not a client abort");
});

Deno.test("fault die_after: N events then a broken body, never [DONE]", async () => {
  const fake = await startFake({ kind: "vllm", content: ["a", "b", "c", "d"] });
  try {
    fake.fault = { type: "die_after", chunks: 2 };
    const response = await post(
      `${fake.apiBase}/chat/completions`,
      chat("meta-llama/Llama-3.1-8B-Instruct", { stream: true }),
    );
    assert.equal(response.status, 200);
    const decoder = new TextDecoder();
    let text = "";
    await assert.rejects(async () => {
      for await (const bytes of response.body!) text += decoder.decode(bytes, { stream: true });
    });
    assert.equal(text.split("\n\n").filter((e) => e.startsWith("data: ")).length, 2);
    assert.doesNotMatch(text, /\[DONE\]/);
  } finally {
    await fake.close();
  }
});

Deno.test("fault stall_after: N events, silence, and the client's cancel is seen", async () => {
  const fake = await startFake({ kind: "ollama" });
  try {
    fake.fault = { type: "stall_after", chunks: 2 };
    const controller = new AbortController();
    const response = await post(
      `${fake.apiBase}/chat/completions`,
      chat("llama3.1", { stream: true }),
      { signal: controller.signal },
    );
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (text.split("\n\n").length < 3) {
      const { value } = await reader.read();
      text += decoder.decode(value!, { stream: true });
    }
    const next = reader.read();
    const quiet = await Promise.race([
      next.then(() => "more", () => "error"),
      new Promise((resolve) => setTimeout(resolve, 150, "silent")),
    ]);
    assert.equal(quiet, "silent");
    const seen = fake.nextAbort();
    const abortedAt = performance.now();
    controller.abort();
    await assert.rejects(next);
    const at = await within(seen, 1000, "abort");
    assert.ok(at - abortedAt < 100, `abort noticed after ${(at - abortedAt).toFixed(1)} ms`);
  } finally {
    await fake.close();
  }
});

Deno.test("a client that cancels a paced stream mid-way is seen", async () => {
  const fake = await startFake({ kind: "openai", chunkDelayMs: 30, content: ["a", "b", "c", "d"] });
  try {
    const response = await post(
      `${fake.apiBase}/chat/completions`,
      chat("gpt-4o-mini", { stream: true }),
    );
    const reader = response.body!.getReader();
    await reader.read();
    const seen = fake.nextAbort();
    const cancelledAt = performance.now();
    await reader.cancel();
    const at = await within(seen, 1000, "abort");
    assert.ok(at - cancelledAt < 100, `cancel noticed after ${(at - cancelledAt).toFixed(1)} ms`);
  } finally {
    await fake.close();
  }
});

Deno.test("firstLoadMs: the first request per model waits, later ones do not", async () => {
  const fake = await startFake({ kind: "ollama", firstLoadMs: 200 });
  try {
    const url = `${fake.apiBase}/chat/completions`;
    let started = performance.now();
    await (await post(url, chat("llama3.1"))).body!.cancel();
    const first = performance.now() - started;
    started = performance.now();
    await (await post(url, chat("llama3.1:latest"))).body!.cancel();
    const second = performance.now() - started;
    assert.ok(first >= 190, `first request took ${first.toFixed(1)} ms`);
    assert.ok(second < 100, `second request took ${second.toFixed(1)} ms`);
  } finally {
    await fake.close();
  }
});

Deno.test("firstLoadMs: a client that gives up while the model loads is seen", async () => {
  const fake = await startFake({ kind: "ollama", firstLoadMs: 5_000 });
  try {
    const controller = new AbortController();
    const pending = post(`${fake.apiBase}/chat/completions`, chat("llama3.1"), {
      signal: controller.signal,
    });
    while (fake.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const seen = fake.nextAbort();
    const abortedAt = performance.now();
    controller.abort();
    await assert.rejects(pending);
    const at = await within(seen, 1000, "abort");
    assert.ok(at - abortedAt < 100, `abort noticed after ${(at - abortedAt).toFixed(1)} ms`);
  } finally {
    await fake.close();
  }
});

Deno.test("refusedApiBase: nothing listens there", async () => {
  const base = await refusedApiBase();
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  await assert.rejects(fetch(`${base}/models`), TypeError);
});

const TOOL_CALLS = [
  { name: "get_weather", arguments: { city: "Paris", unit: "c" } },
  { name: "Read", arguments: { file_path: "/home/ada/project/deno.json" } },
];

for (const kind of KINDS) {
  Deno.test(`${kind}: scripted tool calls, plain: message.tool_calls and finish_reason tool_calls`, async () => {
    const fake = await startFake({ kind, toolCalls: TOOL_CALLS });
    try {
      const model = (await (await fetch(`${fake.apiBase}/models`)).json()).data[0].id;
      const body = await (await post(`${fake.apiBase}/chat/completions`, chat(model))).json();
      const [choice] = body.choices;
      assert.equal(choice.finish_reason, "tool_calls");
      assert.equal(choice.message.role, "assistant");
      assert.equal(choice.message.content, kind === "ollama" ? "" : null);
      assert.deepEqual(
        choice.message.tool_calls.map((
          c: { id: string; type: string; function: { name: string; arguments: string } },
        ) => [
          c.id,
          c.type,
          c.function.name,
          JSON.parse(c.function.arguments),
        ]),
        [
          [`call_${kind}_0`, "function", "get_weather", { city: "Paris", unit: "c" }],
          [`call_${kind}_1`, "function", "Read", { file_path: "/home/ada/project/deno.json" }],
        ],
      );
    } finally {
      await fake.close();
    }
  });

  Deno.test(`${kind}: scripted tool calls, streamed: arguments split over several chunks`, async () => {
    const fake = await startFake({ kind, toolCalls: TOOL_CALLS });
    try {
      const model = (await (await fetch(`${fake.apiBase}/models`)).json()).data[0].id;
      const response = await post(
        `${fake.apiBase}/chat/completions`,
        chat(model, { stream: true }),
      );
      const events = await readEvents(response);
      assert.equal(events.at(-1)!.data, "[DONE]");
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
      const deltas = chunks.flatMap((c) => c.choices[0].delta.tool_calls ?? []);
      // Per call: one delta with id and name, then at least two argument pieces.
      for (const index of [0, 1]) {
        const mine = deltas.filter((d: { index: number }) => d.index === index);
        assert.equal(mine[0].id, `call_${kind}_${index}`);
        assert.equal(mine[0].function.arguments, "");
        assert.ok(mine.length >= 3, `${mine.length} deltas for call ${index}`);
        const args = mine.map((d: { function: { arguments: string } }) => d.function.arguments)
          .join("");
        assert.deepEqual(JSON.parse(args), TOOL_CALLS[index].arguments);
      }
      assert.equal(chunks.at(-1).choices[0].finish_reason, "tool_calls");
    } finally {
      await fake.close();
    }
  });
}

Deno.test("scripted tool calls stream as the openai SDK assembles them", async () => {
  const fake = await startFake({ kind: "openai", toolCalls: TOOL_CALLS });
  try {
    const client = new OpenAI({ apiKey: "sk-test", baseURL: fake.apiBase, maxRetries: 0 });
    const completion = await client.chat.completions
      .stream({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] })
      .finalChatCompletion();
    const calls = completion.choices[0].message.tool_calls ?? [];
    assert.deepEqual(
      calls.map((c) => c.type === "function" && JSON.parse(c.function.arguments)),
      TOOL_CALLS.map((c) => c.arguments),
    );
  } finally {
    await fake.close();
  }
});

Deno.test("headers_then_silence sends the answer's headers, then no byte until the client leaves", async () => {
  const fake = await startFake({ kind: "ollama" });
  fake.fault = { type: "headers_then_silence" };
  try {
    const controller = new AbortController();
    const res = await post(
      `${fake.apiBase}/chat/completions`,
      { model: "llama3.1", messages: [], stream: true },
      { signal: controller.signal },
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const reader = res.body!.getReader();
    const first = reader.read().then(() => "a byte", () => "aborted");
    const quiet = await Promise.race([
      first,
      new Promise((resolve) => setTimeout(() => resolve("quiet"), 100)),
    ]);
    assert.equal(quiet, "quiet");
    const aborted = fake.nextAbort();
    controller.abort();
    assert.equal(await first, "aborted");
    await within(aborted, 1_000, "the fake never saw the client leave");
    assert.equal(fake.requests[0].sentBytes, 0);
  } finally {
    await fake.close();
  }
});

Deno.test("drip sends the answer one byte per piece, the given interval apart", async () => {
  const fake = await startFake({ kind: "ollama" });
  fake.fault = { type: "drip", intervalMs: 5 };
  try {
    const res = await post(`${fake.apiBase}/chat/completions`, {
      model: "llama3.1",
      messages: [],
    });
    const body = await res.json();
    assert.equal(body.choices[0].message.content, "Hello from ollama");
    const { sentAt, sentBytes } = fake.requests[0];
    assert.equal(sentAt!.length, sentBytes);
    assert.ok(sentAt!.at(-1)! - sentAt![0] >= (sentBytes! - 1) * 4, "pieces were not paced");
  } finally {
    await fake.close();
  }
});

Deno.test("gzip answers with content-encoding: gzip, plain and streamed alike", async () => {
  const fake = await startFake({ kind: "ollama" });
  fake.fault = { type: "gzip" };
  try {
    for (const stream of [false, true]) {
      const res = await post(`${fake.apiBase}/chat/completions`, {
        model: "llama3.1",
        messages: [],
        stream,
      });
      // fetch decodes it (and keeps the header): what arrives is the usual answer.
      assert.equal(res.headers.get("content-encoding"), "gzip");
      const text = await res.text();
      assert.match(text, stream ? /data: \[DONE\]/ : /"Hello from ollama"/);
    }
  } finally {
    await fake.close();
  }
});
