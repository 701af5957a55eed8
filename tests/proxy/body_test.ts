import assert from "node:assert/strict";
import { BodyTooLargeError, readBodyLimited, replaceModel } from "../../src/proxy/body.ts";

Deno.test("only the top-level model value is rewritten; every other byte is kept", () => {
  const text =
    '{"messages":[{"role":"user","content":"the \\"model\\": x","model":"inner"}],\n  "model" :  "smart", "seed": 12345678901234567890, "temperature": 1.0}';
  const out = replaceModel(text, "llama3.1:8b")!;
  assert.equal(out, text.replace('"smart"', '"llama3.1:8b"'));
  assert.equal(JSON.parse(out).model, "llama3.1:8b");
});

Deno.test("a model value with escapes is replaced whole", () => {
  const out = replaceModel('{"model":"a\\"b\\\\","x":1}', "m")!;
  assert.deepEqual(JSON.parse(out), { model: "m", x: 1 });
});

Deno.test("a duplicated or escaped model key is left to re-serialisation", () => {
  assert.equal(replaceModel('{"model":"a","model":"b"}', "m"), undefined);
  assert.equal(replaceModel('{"mod\\u0065l":"a"}', "m"), undefined);
});

Deno.test("a body over the limit is refused from its content-length without reading it", async () => {
  const req = new Request("http://x/", {
    method: "POST",
    body: "x".repeat(100),
    headers: { "content-length": "100" },
  });
  await assert.rejects(() => readBodyLimited(req, 10), BodyTooLargeError);
});

Deno.test("a chunked body is cut off as soon as it passes the limit", async () => {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      if (pulled > 1000) return c.close();
      c.enqueue(new Uint8Array(1024));
    },
  });
  const req = new Request("http://x/", { method: "POST", body });
  await assert.rejects(() => readBodyLimited(req, 4096), BodyTooLargeError);
  assert.ok(pulled < 10, `read ${pulled} chunks before refusing`);
  const ok = await readBodyLimited(new Request("http://x/", { method: "POST", body: "hello" }), 10);
  assert.equal(new TextDecoder().decode(ok), "hello");
});
