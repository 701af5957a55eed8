import assert from "node:assert/strict";
import { MemoryResponseStore } from "../../../src/protocols/responses/store.ts";
import { resolveStoredInput } from "../../../src/protocols/responses/stored_input.ts";

const response = (id: string, text = "x") => ({
  id,
  object: "response",
  output: [{
    id: `msg_${id}`,
    type: "message",
    role: "assistant",
    content: [{ type: "output_text", text }],
  }],
});

Deno.test("a stored response is found by its id and its items by theirs, until its TTL is over", () => {
  let now = 0;
  const store = new MemoryResponseStore({ maxCount: 10, maxBytes: 1e6 }, () => now);
  store.put({
    response: response("r1"),
    input: [{ type: "message", id: "in_1", role: "user", content: "hi" }],
  }, 60);
  assert.equal(store.get("r1")?.response.id, "r1");
  assert.equal(store.item("msg_r1")?.type, "message");
  assert.equal(store.item("in_1")?.content, "hi");
  now = 59_999;
  assert.ok(store.get("r1"));
  now = 60_000;
  assert.equal(store.get("r1"), undefined);
  assert.equal(store.item("msg_r1"), undefined);
  assert.deepEqual(store.size, { count: 0, bytes: 0 });
});

Deno.test("the store is bounded by count and bytes, least recently used out first", () => {
  const store = new MemoryResponseStore({ maxCount: 2, maxBytes: 1e6 }, () => 0);
  store.put({ response: response("a"), input: [] }, 60);
  store.put({ response: response("b"), input: [] }, 60);
  store.get("a"); // a is now the most recently used
  store.put({ response: response("c"), input: [] }, 60);
  assert.ok(store.get("a"));
  assert.equal(store.get("b"), undefined);
  assert.ok(store.get("c"));

  const small = new MemoryResponseStore({ maxCount: 100, maxBytes: 2_000 }, () => 0);
  for (let i = 0; i < 50; i++) {
    small.put({ response: response(`r${i}`, "y".repeat(200)), input: [] }, 60);
  }
  assert.ok(small.size.bytes <= 2_000);
  assert.ok(small.get("r49"));
  assert.equal(small.get("r0"), undefined);
  // One response larger than the whole store is not kept, and evicts nothing.
  small.put({ response: response("huge", "z".repeat(5_000)), input: [] }, 60);
  assert.equal(small.get("huge"), undefined);
  assert.ok(small.get("r49"));
});

Deno.test("a stored copy cannot be changed through what get returned; delete removes it", () => {
  const store = new MemoryResponseStore();
  store.put({ response: response("r"), input: [] }, 60);
  (store.get("r")!.response.output as unknown[]).length = 0;
  assert.equal((store.get("r")!.response.output as unknown[]).length, 1);
  assert.equal(store.delete("r"), true);
  assert.equal(store.delete("r"), false);
  assert.equal(store.get("r"), undefined);
});

Deno.test("previous_response_id and item_reference resolve to the stored conversation; unknown ids are named", () => {
  const store = new MemoryResponseStore();
  store.put({
    response: response("r1", "first"),
    input: [{ type: "message", role: "user", content: "A" }],
  }, 60);
  const resolved = resolveStoredInput(
    { model: "m", previous_response_id: "r1", input: "B" },
    store,
    false,
  );
  assert.ok("body" in resolved);
  assert.equal(resolved.body.previous_response_id, undefined);
  assert.deepEqual(
    (resolved.body.input as { role?: string; content?: unknown }[]).map((i) => i.role),
    [
      "user",
      "assistant",
      "user",
    ],
  );
  const ref = resolveStoredInput(
    { input: [{ type: "item_reference", id: "msg_r1" }] },
    store,
    false,
  );
  assert.ok("body" in ref);
  assert.equal((ref.body.input as { id: string }[])[0].id, "msg_r1");
  assert.deepEqual(
    resolveStoredInput({ previous_response_id: "resp_gone", input: "x" }, store, false),
    { missing: { kind: "response", id: "resp_gone" } },
  );
  assert.deepEqual(
    resolveStoredInput({ input: [{ type: "item_reference", id: "msg_gone" }] }, store, false),
    { missing: { kind: "item", id: "msg_gone" } },
  );
  // A Responses provider may hold ids BitRouter does not: they are left for it.
  const passed = resolveStoredInput({ previous_response_id: "resp_up", input: "x" }, store, true);
  assert.ok("body" in passed && passed.body.previous_response_id === "resp_up" && !passed.changed);
});
