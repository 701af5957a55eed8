/**
 * Golden fixtures for translation tests: JSON files under fixtures/ holding an input and the exact
 * output expected for it. `UPDATE_GOLDEN=1 deno task test tests/protocols` rewrites the expected
 * parts from the code (review the diff before committing); otherwise any difference fails.
 */
import assert from "node:assert/strict";
import type { SseEvent, TranslationContext } from "../../src/protocols/translation.ts";

const DIR = new URL("./fixtures/", import.meta.url);

/** One fixture file's content. */
export type Fixture = Record<string, unknown>;

/** The parsed fixture file `name` (e.g. `responses_codex_request.json`). */
export function readFixture(name: string): Fixture {
  return JSON.parse(Deno.readTextFileSync(new URL(name, DIR)));
}

/** Asserts fixture[key] equals actual, or writes actual there under UPDATE_GOLDEN=1. */
export function assertGolden(name: string, fixture: Fixture, key: string, actual: unknown): void {
  if (Deno.env.get("UPDATE_GOLDEN") === "1") {
    fixture[key] = actual;
    Deno.writeTextFileSync(new URL(name, DIR), JSON.stringify(fixture, null, 2) + "\n");
    return;
  }
  assert.ok(key in fixture, `${name} has no "${key}"; run with UPDATE_GOLDEN=1 and review it`);
  assert.deepEqual(actual, fixture[key], `${name}: ${key} differs from the fixture`);
}

/** A fresh context as the proxy would make for one request. */
export function testContext(requestedModel = "ollama:qwen3-coder"): TranslationContext {
  return {
    requestedModel,
    upstreamModel: "qwen3-coder:30b",
    requestId: "4b1f0e9c-2d7a-4c55-9e0b-3f6a8d2c1b77",
    nowSecs: 1764000000,
  };
}

/** An SSE event as a fixture holds it: the name and the parsed data. */
export interface FixtureEvent {
  event?: string;
  data: unknown;
}

/** Events with their data parsed, for comparing with a fixture. */
export function parsedEvents(events: SseEvent[]): FixtureEvent[] {
  return events.map((e) => ({ ...(e.event ? { event: e.event } : {}), data: JSON.parse(e.data) }));
}
