import assert from "node:assert/strict";
import { compose } from "../../src/protocols/compose.ts";
import type {
  SseEvent,
  StreamTranslator,
  Translation,
  TranslationContext,
} from "../../src/protocols/translation.ts";
import { testContext } from "./responses_golden.ts";

/**
 * A toy translation that tags what passes through it, so the order of composition shows: requests
 * gain `via: [...name]`, answers gain `back: [...name]`, streamed events get `name:` prefixed and
 * the stream's own terminator is `END`.
 */
function tagging(name: string, log: string[]): Translation {
  return {
    request(body, ctx) {
      log.push(`${name}.request`);
      return { ...body, model: ctx.upstreamModel, via: [...(body.via as string[] ?? []), name] };
    },
    response(body) {
      log.push(`${name}.response`);
      const b = body as { back?: string[] };
      return { ...b, back: [...(b.back ?? []), name] };
    },
    stream(_ctx: TranslationContext): StreamTranslator {
      let finished = false;
      return {
        push(e: SseEvent) {
          if (e.data === "END") {
            finished = true;
            return [{ data: "END" }];
          }
          // Each input event becomes two, so a lost or held event shows in the count.
          return [{ data: `${name}:${e.data}` }, { data: `${name}:${e.data}'` }];
        },
        end: () => (finished ? [{ data: `${name}:closing` }] : []),
        get finished() {
          return finished;
        },
        fail: (message: string) => [{ event: "error", data: `${name} failed: ${message}` }],
      };
    },
    error(status, body) {
      return { by: name, status, inner: body };
    },
  };
}

Deno.test("compose: the request goes through first then second; the answer back through second then first", () => {
  const log: string[] = [];
  const t = compose(tagging("outer", log), tagging("inner", log));
  const ctx = testContext();
  assert.deepEqual(t.request({ model: "asked" }, ctx), {
    model: ctx.upstreamModel,
    via: ["outer", "inner"],
  });
  assert.deepEqual(t.response({}, ctx), { back: ["inner", "outer"] });
  assert.deepEqual(log, ["outer.request", "inner.request", "inner.response", "outer.response"]);
});

Deno.test("compose: errors are translated by second, then first", () => {
  const t = compose(tagging("outer", []), tagging("inner", []));
  assert.deepEqual(t.error(429, "slow down"), {
    by: "outer",
    status: 429,
    inner: { by: "inner", status: 429, inner: "slow down" },
  });
});

Deno.test("compose: each upstream event comes out at once through both translators", () => {
  const t = compose(tagging("outer", []), tagging("inner", []));
  const s = t.stream(testContext());
  assert.deepEqual(s.push({ data: "a" }).map((e) => e.data), [
    "outer:inner:a",
    "outer:inner:a'",
    "outer:inner:a'",
    "outer:inner:a''",
  ]);
  assert.equal(s.finished, false);
  assert.deepEqual(s.push({ data: "END" }).map((e) => e.data), ["END"]);
  assert.equal(s.finished, true);
  // The inner translator's closing events still pass through the outer one.
  assert.deepEqual(s.end().map((e) => e.data), [
    "outer:inner:closing",
    "outer:inner:closing'",
    "outer:closing",
  ]);
});

Deno.test("compose: fail() speaks the client's protocol (the first translation's)", () => {
  const s = compose(tagging("outer", []), tagging("inner", [])).stream(testContext());
  assert.deepEqual(s.fail("reset"), [{ event: "error", data: "outer failed: reset" }]);
});

Deno.test("compose: an upstream that finished while the pivot did not is reported, not passed as whole", () => {
  const inner = tagging("inner", []);
  // An inner translator that sees the upstream's end but never emits the pivot's END.
  const lossy: Translation = {
    ...inner,
    stream(ctx) {
      const s = inner.stream(ctx);
      return {
        ...s,
        push: (e) => (e.data === "END" ? (s.push(e), []) : s.push(e)),
        get finished() {
          return s.finished;
        },
      };
    },
  };
  const s = compose(tagging("outer", []), lossy).stream(testContext());
  s.push({ data: "END" });
  assert.equal(s.finished, true);
  assert.deepEqual(s.end().at(-1), {
    event: "error",
    data: "outer failed: the translated stream ended before its end",
  });
});
