import assert from "node:assert/strict";
import { estimateTokens } from "../../../src/protocols/messages/count_tokens.ts";
import { fixtureObject } from "../golden.ts";

Deno.test("estimate: characters / 4, rounded up, over system, messages and tools", () => {
  assert.equal(estimateTokens({ messages: [{ role: "user", content: "12345" }] }), 2);
  assert.equal(
    estimateTokens({
      system: [{ type: "text", text: "abcd", cache_control: { type: "ephemeral" } }],
      messages: [
        { role: "user", content: [{ type: "text", text: "abcd" }] },
        {
          role: "assistant",
          content: [{ type: "tool_use", id: "t", name: "ab", input: { a: 1 } }],
        },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "t", content: "abcdefgh" }] },
      ],
      tools: [{ name: "ab", description: "abcd", input_schema: { type: "object" } }],
    }),
    // 4 + 4 + (2 + 7) + 8 + (2 + 4 + 17) = 48 characters
    12,
  );
});

Deno.test("estimate: an image counts 1600 tokens whatever its base64 size", () => {
  const image = (data: string) => ({
    messages: [{
      role: "user",
      content: [{ type: "image", source: { type: "base64", media_type: "image/png", data } }],
    }],
  });
  assert.equal(estimateTokens(image("x")), 1600);
  assert.equal(estimateTokens(image("x".repeat(100_000))), 1600);
});

Deno.test("estimate: a Claude Code request grows with its tools and system prompt", () => {
  const body = fixtureObject("claude_code_request.json");
  const full = estimateTokens(body);
  assert.ok(full > estimateTokens({ ...body, tools: [] }));
  assert.ok(full > estimateTokens({ ...body, system: undefined }));
  assert.equal(estimateTokens({}), 0);
});
