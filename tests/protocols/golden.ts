/**
 * Golden files for the translation tests: fixtures in, expected outputs kept next to them under
 * fixtures/expected/. `UPDATE_GOLDEN=1 deno task test tests/protocols` rewrites the expected
 * files from the code; review the diff before committing it — the files are the contract.
 */

import assert from "node:assert/strict";
import type {
  SseEvent,
  StreamTranslator,
  TranslationContext,
} from "../../src/protocols/translation.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url);

/** The fixed context every golden test translates under. */
export const CTX: TranslationContext = {
  requestedModel: "ollama:qwen2.5-coder",
  upstreamModel: "qwen2.5-coder:7b",
  requestId: "req_01HZX3K9",
  nowSecs: 1750000000,
};

/** The context for an OpenAI client served by a hosted Anthropic model. */
export const CLAUDE_CTX: TranslationContext = {
  requestedModel: "anthropic:claude-sonnet-4-5",
  upstreamModel: "claude-sonnet-4-5",
  requestId: "req_01HZX3K9",
  nowSecs: 1750000000,
};

/** A fixture's parsed JSON. */
export function fixture(name: string): unknown {
  return JSON.parse(Deno.readTextFileSync(new URL(name, FIXTURES)));
}

/** A fixture's parsed JSON as an object. */
export function fixtureObject(name: string): Record<string, unknown> {
  return fixture(name) as Record<string, unknown>;
}

/** Asserts actual equals the expected file (or writes it when UPDATE_GOLDEN=1). */
export function assertGolden(actual: unknown, expectedName: string): void {
  const url = new URL(`expected/${expectedName}`, FIXTURES);
  if (Deno.env.get("UPDATE_GOLDEN") === "1") {
    Deno.writeTextFileSync(url, JSON.stringify(actual, null, 2) + "\n");
    return;
  }
  assert.deepEqual(actual, JSON.parse(Deno.readTextFileSync(url)));
}

/** An SSE event as stored in fixtures: its data parsed when it is JSON. */
export interface StoredEvent {
  event?: string;
  data: unknown;
}

/** Upstream events from a fixture, as the proxy would hand them over. */
export function upstreamEvents(name: string): SseEvent[] {
  return (fixture(name) as StoredEvent[]).map((e) => ({
    ...(e.event ? { event: e.event } : {}),
    data: typeof e.data === "string" ? e.data : JSON.stringify(e.data),
  }));
}

/**
 * Feeds the events one by one and returns, for each, the events it produced right then — the
 * golden file holds one list per upstream event, so an output held back to a later event (or
 * to the end) shows up as a difference.
 */
export function translateEventByEvent(
  translator: StreamTranslator,
  events: SseEvent[],
): StoredEvent[][] {
  return events.map((e) => translator.push(e).map(stored));
}

/** An output event with its data parsed (asserting it is JSON or `[DONE]`). */
export function stored(e: SseEvent): StoredEvent {
  const data = e.data === "[DONE]" ? e.data : JSON.parse(e.data);
  return e.event === undefined ? { data } : { event: e.event, data };
}
