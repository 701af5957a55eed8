import assert from "node:assert/strict";
import { createLogger } from "../../src/observe/log.ts";

Deno.test("setLevel changes which lines are written from the next line on", () => {
  const lines: string[] = [];
  const log = createLogger({ level: "warn", format: "json", write: (l) => lines.push(l) });
  log.info("dropped at warn");
  log.request({
    requestId: "a",
    protocol: "chat_completions",
    attempts: 1,
    status: 200,
    streamed: false,
    totalMs: 1,
  });
  assert.equal(lines.length, 0);
  log.setLevel("debug");
  assert.equal(log.level, "debug");
  log.debug("kept at debug");
  log.request({
    requestId: "b",
    protocol: "chat_completions",
    attempts: 1,
    status: 200,
    streamed: false,
    totalMs: 1,
  });
  assert.equal(lines.length, 2);
  log.setLevel("error");
  log.warn("dropped at error");
  assert.equal(lines.length, 2);
});

Deno.test("at log_level warn, failed requests (5xx) are still written, as warnings", () => {
  const lines: string[] = [];
  const log = createLogger({ level: "warn", format: "json", write: (l) => lines.push(l) });
  const record = (status: number) => ({
    requestId: String(status),
    protocol: "chat_completions",
    attempts: 2,
    status,
    streamed: false,
    totalMs: 1,
  });
  log.request(record(200));
  log.request(record(404));
  log.request(record(502));
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]);
  assert.equal(line.level, "warn");
  assert.equal(line.status, 502);
});

Deno.test("a pretty log line carries no control character from a client-chosen model or error", () => {
  const lines: string[] = [];
  const log = createLogger({ level: "info", format: "pretty", write: (l) => lines.push(l) });
  log.request({
    requestId: "r1",
    protocol: "chat_completions",
    model: "\x1b]0;PWNED\x07\x1b[2J\r\nfake INFO line",
    attempts: 0,
    status: 404,
    streamed: false,
    totalMs: 1,
    error: "no \x9b such\x1b[31m model",
  });
  assert.equal(lines.length, 1);
  // deno-lint-ignore no-control-regex -- looking for control characters is the point
  assert.doesNotMatch(lines[0], /[\x00-\x08\x0a-\x1f\x7f-\x9f]/);
  assert.match(
    lines[0],
    /chat_completions \\x1b\]0;PWNED\\x07\\x1b\[2J\\x0d\\x0afake INFO line -> -/,
  );
});
