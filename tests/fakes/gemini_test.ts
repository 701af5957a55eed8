import assert from "node:assert/strict";
import { startFakeGemini } from "./gemini.ts";

const CONTENTS = [{ role: "user", parts: [{ text: "hi" }] }];

Deno.test("the fake Gemini API refuses as Google does: key, unknown fields, unknown model", async () => {
  const fake = await startFakeGemini({ apiKey: "AIza-good" });
  const call = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${fake.apiBase}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  const key = { "x-goog-api-key": "AIza-good" };
  try {
    const none = await call("/models/gemini-2.5-flash:generateContent", { contents: CONTENTS });
    assert.equal(none.status, 403);
    assert.equal((await none.json()).error.status, "PERMISSION_DENIED");
    const wrong = await call("/models/gemini-2.5-flash:generateContent", { contents: CONTENTS }, {
      "x-goog-api-key": "nope",
    });
    assert.equal(wrong.status, 400);
    assert.match((await wrong.json()).error.message, /API key not valid/);
    const bearer = await call("/models/gemini-2.5-flash:generateContent", { contents: CONTENTS }, {
      authorization: "Bearer AIza-good",
    });
    assert.equal(bearer.status, 401);
    await bearer.body?.cancel();
    const unknown = await call("/models/gemini-2.5-flash:generateContent", {
      contents: CONTENTS,
      generationConfig: { max_tokens: 5 },
    }, key);
    assert.equal(unknown.status, 400);
    assert.match(
      (await unknown.json()).error.message,
      /Unknown name "max_tokens" at 'generation_config': Cannot find field/,
    );
    const topLevel = await call("/models/gemini-2.5-flash:generateContent", {
      contents: CONTENTS,
      model: "gemini-2.5-flash",
    }, key);
    assert.equal(topLevel.status, 400);
    await topLevel.body?.cancel();
    const missing = await call("/models/gemini-9:generateContent", { contents: CONTENTS }, key);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.status, "NOT_FOUND");
  } finally {
    await fake.close();
  }
});

Deno.test("the fake Gemini API streams SSE with alt=sse, else one JSON array", async () => {
  const fake = await startFakeGemini({ apiKey: "k" });
  const stream = (alt: string) =>
    fetch(`${fake.apiBase}/models/gemini-2.5-flash:streamGenerateContent${alt}`, {
      method: "POST",
      headers: { "x-goog-api-key": "k" },
      body: JSON.stringify({ contents: CONTENTS }),
    });
  try {
    const sse = await stream("?alt=sse");
    assert.equal(sse.headers.get("content-type"), "text/event-stream");
    const events = (await sse.text()).split("\r\n\r\n").filter(Boolean);
    assert.equal(events.length, 3);
    assert.match(events.at(-1)!, /"finishReason":"STOP"/);
    const array = JSON.parse(await (await stream("")).text()) as unknown[];
    assert.equal(array.length, 3);
  } finally {
    await fake.close();
  }
});

Deno.test("the fake Gemini API embeds as Google does: key, unknown fields, the batch's model", async () => {
  const fake = await startFakeGemini({ apiKey: "AIza-good", models: ["gemini-embedding-001"] });
  const call = (action: string, body: unknown, key = "AIza-good") =>
    fetch(`${fake.apiBase}/models/gemini-embedding-001:${action}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": key },
      body: JSON.stringify(body),
    });
  const content = { parts: [{ text: "one two" }] };
  try {
    const wrongKey = await call("embedContent", { content }, "nope");
    assert.equal(wrongKey.status, 400);
    assert.match((await wrongKey.json()).error.message, /API key not valid/);
    const one = await call("embedContent", { content, outputDimensionality: 2 });
    assert.deepEqual(await one.json(), { embedding: { values: [7, 2] } });
    const unknown = await call("embedContent", { content, input: "x" });
    assert.equal(unknown.status, 400);
    assert.match((await unknown.json()).error.message, /Unknown name "input": Cannot find field/);
    const batch = await call("batchEmbedContents", {
      requests: [{ model: "models/gemini-embedding-001", content, taskType: "RETRIEVAL_QUERY" }],
    });
    assert.deepEqual(await batch.json(), { embeddings: [{ values: [7, 2, 0.5] }] });
    const otherModel = await call("batchEmbedContents", {
      requests: [{ model: "models/my-alias", content }],
    });
    assert.equal(otherModel.status, 400);
    const refused = await otherModel.json();
    assert.equal(refused.error.status, "INVALID_ARGUMENT");
    assert.match(refused.error.message, /requests\[0\]\.model/);
    const nested = await call("batchEmbedContents", {
      requests: [{ model: "models/gemini-embedding-001", content: { parts: [{ txt: "x" }] } }],
    });
    assert.match(
      (await nested.json()).error.message,
      /Unknown name "txt" at 'requests\[0\]\.content\.parts\[0\]'/,
    );
  } finally {
    await fake.close();
  }
});
