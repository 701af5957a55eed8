import assert from "node:assert/strict";
import { type Options, parseOptions, UsageError } from "./options.ts";

/** parseOptions with a check that it parsed (not help). */
function parse(args: string[]): Options {
  const o = parseOptions(args);
  assert.notEqual(o, "help");
  return o as Options;
}

Deno.test("bench: every memory figure by default when BitRouter is a target, none without it", () => {
  assert.deepEqual(parse([]).memory, ["start", "idle", "streams", "drift"]);
  assert.deepEqual(parse(["--targets", "upstream,floor"]).memory, []);
  assert.deepEqual(parse(["--no-memory"]).memory, []);
  assert.deepEqual(parse(["--memory", "idle,start"]).memory, ["idle", "start"]);
  assert.deepEqual(parse(["--memory=none"]).memory, []);
});

Deno.test("bench: portkey is a target only when asked for", () => {
  assert.ok(!parse([]).targets.includes("portkey"));
  assert.deepEqual(parse(["--targets", "bitrouter,portkey"]).targets, ["bitrouter", "portkey"]);
});

Deno.test("bench: the lead's floor comparison still parses", () => {
  const o = parse(
    "--targets floor,bitrouter --floor-contract --floor-guarded --no-translation --duration 5s --conns 32"
      .split(" "),
  );
  assert.deepEqual(o.targets, ["floor", "bitrouter"]);
  assert.equal(o.duration, 5);
  assert.deepEqual(o.conns, [32]);
  assert.ok(o.floorContract && o.floorGuarded && !o.translation && o.load);
});

Deno.test("bench: misuses name the option and what it expected", () => {
  assert.throws(() => parse(["--memory", "heap"]), UsageError);
  assert.throws(() => parse(["--targets", "litellm"]), /not one of upstream, floor/);
  assert.throws(() => parse(["--streams", "0"]), /--streams: expected a whole number ≥ 1/);
  assert.throws(() => parse(["--targets", "floor", "--memory", "drift"]), /add bitrouter/);
  assert.equal(parseOptions(["--help"]), "help");
});
