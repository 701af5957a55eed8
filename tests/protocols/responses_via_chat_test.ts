import assert from "node:assert/strict";
import { responsesViaChat } from "../../src/protocols/responses/via_chat.ts";
import type { SseEvent } from "../../src/protocols/translation.ts";
import { assertGolden, parsedEvents, readFixture, testContext } from "./responses_golden.ts";

const REQUESTS = [
  "responses_codex_request.json",
  "responses_image_request.json",
  "responses_json_schema_request.json",
];
const ANSWERS = [
  "responses_answer_text.json",
  "responses_answer_tool_calls.json",
  "responses_answer_length.json",
];
const STREAMS = [
  "responses_stream_text.json",
  "responses_stream_tool_calls.json",
  "responses_stream_length.json",
];

type Body = Record<string, unknown>;

for (const name of REQUESTS) {
  Deno.test(`golden ${name}: the Responses request becomes exactly the Chat Completions request`, () => {
    const fixture = readFixture(name);
    const out = responsesViaChat.request(structuredClone(fixture.request as Body), testContext());
    assertGolden(name, fixture, "upstream_request", out);
  });
}

for (const name of ANSWERS) {
  Deno.test(`golden ${name}: the chat.completion becomes exactly the Responses object`, () => {
    const fixture = readFixture(name);
    const ctx = testContext();
    responsesViaChat.request(fixture.request as Body, ctx);
    assertGolden(name, fixture, "client", responsesViaChat.response(fixture.upstream, ctx));
  });
}

for (const name of STREAMS) {
  Deno.test(`golden ${name}: each chunk becomes exactly its Responses events, at once`, () => {
    const fixture = readFixture(name);
    const ctx = testContext();
    responsesViaChat.request(fixture.request as Body, ctx);
    const stream = responsesViaChat.stream(ctx);
    // One entry per upstream event: what push() returned for it, so nothing may be held back.
    const perEvent = (fixture.upstream as string[]).map((data) => {
      assert.equal(stream.finished, false, "finished before [DONE]");
      return parsedEvents(stream.push({ data }));
    });
    assert.equal(stream.finished, true);
    assert.deepEqual(stream.end(), []);
    assertGolden(name, fixture, "client", perEvent);
    assertWellFormed(
      perEvent.flat().map((e) => ({ event: e.event, data: JSON.stringify(e.data) })),
    );
  });
}

/** Every event names its type twice (SSE name and data.type) and numbers run 0, 1, 2, … */
function assertWellFormed(events: SseEvent[]): void {
  for (const [i, e] of events.entries()) {
    const data = JSON.parse(e.data);
    assert.equal(data.type, e.event);
    assert.equal(data.sequence_number, i);
  }
}
