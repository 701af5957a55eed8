import assert from "node:assert/strict";
import { oneSystemMessage } from "../../../src/protocols/chat/system_messages.ts";
import { messagesViaChat } from "../../../src/protocols/messages/via_chat.ts";
import { testContext } from "../responses_golden.ts";

Deno.test("leading system and developer messages join whatever their content shape", () => {
  assert.deepEqual(
    oneSystemMessage([
      { role: "system", content: "A" },
      {
        role: "developer",
        content: [{ type: "text", text: "B" }, { type: "input_text", text: "C" }],
      },
      { role: "user", content: "hi" },
    ]),
    [{ role: "system", content: "A\n\nB\n\nC" }, { role: "user", content: "hi" }],
  );
});

Deno.test("a system message's image is not dropped: it follows as a user turn in place", () => {
  const image = { type: "image_url", image_url: { url: "data:image/png;base64,AA" } };
  assert.deepEqual(
    oneSystemMessage([{ role: "user", content: "hi" }, {
      role: "system",
      content: [{ type: "text", text: "S" }, image],
    }]),
    [{ role: "system", content: "S" }, { role: "user", content: "hi" }, {
      role: "user",
      content: [image],
    }],
  );
});

Deno.test("Claude Code's system turn after the first user turn: merged by default, in place with user or keep", () => {
  const body = {
    model: "m",
    max_tokens: 10,
    system: "You are Claude Code.",
    messages: [
      { role: "user", content: "hi" },
      { role: "system", content: [{ type: "text", text: "# Environment" }] },
      { role: "user", content: "go" },
    ],
  };
  const roles = (
    ctx = testContext(),
  ) => (messagesViaChat.request(body, ctx).messages as { role: string; content: string }[]);
  assert.deepEqual(roles(), [
    { role: "system", content: "You are Claude Code.\n\n# Environment" },
    { role: "user", content: "hi" },
    { role: "user", content: "go" },
  ]);
  assert.deepEqual(roles({ ...testContext(), systemMessages: "user" })[2], {
    role: "user",
    content: "<system>\n# Environment\n</system>",
  });
  assert.deepEqual(roles({ ...testContext(), systemMessages: "keep" })[2], {
    role: "system",
    content: "# Environment",
  });
});
