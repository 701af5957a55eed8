/**
 * Ollama's and Gemini's APIs at the handler (SPEC §4): the answers BitRouter makes itself, the
 * paths it builds upstream, and what reaches the client when an upstream stream breaks.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { buildRouteTable } from "../../src/routing/route_table.ts";
import { createHandler } from "../../src/proxy/handler.ts";
import { silentLogger } from "../../src/observe/log.ts";

const CONFIG = `
server: { skip_auth: true }
upstream: { timeouts: { first_byte_secs: 1, idle_secs: 1 } }
providers:
  ollama:
    api_base: http://ollama.test/v1
    models: [{ id: llama3.1, provider_model_id: "llama3.1:8b" }]
  codex:
    api_base: http://responses.test/v1
    api_protocol: responses
    models: [gpt-5-codex]
  google:
    api_base: http://gemini.test/v1beta
    api_key: AIza-up
    api_protocol: generate_content
    models: [gemini-2.5-flash]
`;

type Seen = { url: string; headers: Headers; body: string };

function setup(answer: (url: string) => Response) {
  const seen: Seen[] = [];
  const fakeFetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    seen.push({ url: req.url, headers: req.headers, body: await req.text() });
    return answer(req.url);
  };
  const table = buildRouteTable(parseConfig(CONFIG, "/t.yaml", { env: () => undefined }));
  const handler = createHandler({
    routes: () => table,
    fetch: fakeFetch as typeof fetch,
    now: () => performance.now(),
    log: silentLogger,
  });
  return { handler, seen };
}

const post = (path: string, body: unknown) =>
  new Request(`http://127.0.0.1:4356${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

const never = () => {
  throw new Error("no upstream call expected");
};

Deno.test("an Ollama chat with no messages loads nothing upstream: done_reason load", async () => {
  const { handler, seen } = setup(never);
  const res = await handler(post("/api/chat", { model: "llama3.1", messages: [] }));
  const body = await res.json();
  assert.equal(body.done_reason, "load");
  assert.equal(body.done, true);
  assert.equal(seen.length, 0);
});

Deno.test("Ollama's model management is 501 in Ollama's shape", async () => {
  const { handler } = setup(never);
  for (const path of ["/api/pull", "/api/create", "/api/copy", "/api/blobs/sha256:abc"]) {
    const res = await handler(post(path, { model: "x" }));
    assert.equal(res.status, 501, path);
    const body = await res.json();
    assert.equal(typeof body.error, "string");
    assert.match(body.error, /on the Ollama server itself/);
  }
});

Deno.test("/api/tags lists every model that answers on Ollama's API, whatever its provider speaks", async () => {
  const { handler } = setup(never);
  const res = await handler(new Request("http://127.0.0.1:4356/api/tags"));
  const models = (await res.json()).models;
  assert.deepEqual(models.map((m: { name: string }) => m.name), [
    "gemini-2.5-flash",
    "gpt-5-codex",
    "llama3.1",
  ]);
  // What BitRouter cannot know is zero or empty, never invented.
  assert.deepEqual([models[0].size, models[0].digest], [0, ""]);
});

Deno.test("a Gemini model id with colons and an action: the last camel-case word is the action", async () => {
  const { handler, seen } = setup(() =>
    Response.json({
      choices: [{ message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
    })
  );
  const res = await handler(
    post("/v1beta/models/ollama:llama3.1:8b:generateContent", {
      contents: [{ role: "user", parts: [{ text: "hi" }] }],
    }),
  );
  assert.equal(res.status, 200);
  assert.equal((await res.json()).candidates[0].content.parts[0].text, "hi");
  assert.equal(seen[0].url, "http://ollama.test/v1/chat/completions");
  assert.equal(JSON.parse(seen[0].body).model, "llama3.1:8b");
});

Deno.test("a chat request to a Gemini provider goes to its model's URL with x-goog-api-key", async () => {
  const { handler, seen } = setup(() =>
    new Response(
      `data: ${
        JSON.stringify({
          candidates: [{
            content: { role: "model", parts: [{ text: "hi" }] },
            finishReason: "STOP",
          }],
        })
      }\r\n\r\n`,
      { headers: { "content-type": "text/event-stream" } },
    )
  );
  const res = await handler(post("/v1/chat/completions", {
    model: "gemini-2.5-flash",
    messages: [{ role: "user", content: "hi" }],
    stream: true,
  }));
  const text = await res.text();
  assert.match(text, /"content":"hi"/);
  assert.match(text, /data: \[DONE\]/);
  assert.equal(
    seen[0].url,
    "http://gemini.test/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
  );
  assert.equal(seen[0].headers.get("x-goog-api-key"), "AIza-up");
  assert.equal(seen[0].headers.get("authorization"), null);
});

Deno.test("an Ollama stream that breaks off ends with an {error} line, never a done one", async () => {
  const { handler } = setup(() => {
    const encoder = new TextEncoder();
    let sent = false;
    return new Response(
      new ReadableStream<Uint8Array>({
        pull(c) {
          if (sent) return c.error(new Error("connection reset"));
          sent = true;
          c.enqueue(encoder.encode(
            `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "Hel" } }] })}\n\n`,
          ));
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    );
  });
  const res = await handler(
    post("/api/chat", { model: "llama3.1", messages: [{ role: "user", content: "hi" }] }),
  );
  assert.equal(res.headers.get("content-type"), "application/x-ndjson");
  const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines[0].message.content, "Hel");
  assert.match(lines.at(-1).error, /broke off/);
  assert.ok(lines.every((l) => l.done !== true));
});

Deno.test("Gemini's errors BitRouter makes are Google's shape; a GET with an action is 405", async () => {
  const { handler } = setup(never);
  const missing = await handler(post("/v1beta/models/nope:generateContent", { contents: [] }));
  assert.equal(missing.status, 404);
  const body = await missing.json();
  assert.equal(body.error.status, "NOT_FOUND");
  assert.equal(body.error.code, 404);
  const wrong = await handler(
    new Request("http://127.0.0.1:4356/v1beta/models/llama3.1:generateContent"),
  );
  assert.equal(wrong.status, 405);
  assert.equal((await wrong.json()).error.status, "INVALID_ARGUMENT");
  const unknown = await handler(post("/v1beta/models/llama3.1:streamRawPredict", {}));
  assert.equal(unknown.status, 404);
  await unknown.body?.cancel();
});
