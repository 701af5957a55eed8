import assert from "node:assert/strict";
import { debounce, isEventFor, type Timers, watchFile } from "../../src/config/watch.ts";
import { within } from "../e2e/helpers.ts";

/** Timers run by hand: `advance(ms)` fires what falls due. */
function manualTimers(): Timers & { advance(ms: number): void; pending(): number } {
  let now = 0;
  let next = 1;
  const due = new Map<number, { at: number; fn: () => void }>();
  return {
    set(fn, ms) {
      due.set(next, { at: now + ms, fn });
      return next++;
    },
    clear(id) {
      due.delete(id as number);
    },
    advance(ms) {
      now += ms;
      for (const [id, t] of [...due].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at > now) continue;
        due.delete(id);
        t.fn();
      }
    },
    pending: () => due.size,
  };
}

Deno.test("debounce: a burst of triggers is one call, once the burst has been quiet for ms", () => {
  const timers = manualTimers();
  let calls = 0;
  const d = debounce(() => calls++, 250, timers);
  d.trigger();
  timers.advance(200);
  d.trigger();
  timers.advance(200);
  d.trigger();
  timers.advance(249);
  assert.equal(calls, 0);
  timers.advance(1);
  assert.equal(calls, 1);
  assert.equal(timers.pending(), 0);
  d.trigger();
  timers.advance(250);
  assert.equal(calls, 2);
});

Deno.test("debounce: cancel drops the pending call", () => {
  const timers = manualTimers();
  let calls = 0;
  const d = debounce(() => calls++, 250, timers);
  d.trigger();
  d.cancel();
  timers.advance(1000);
  assert.equal(calls, 0);
  assert.equal(timers.pending(), 0);
});

Deno.test("isEventFor: changes naming the file count, reads and other files do not", () => {
  const ev = (kind: Deno.FsEvent["kind"], ...paths: string[]): Deno.FsEvent => ({ kind, paths });
  const name = "bitrouter.yaml";
  assert.ok(isEventFor(ev("modify", "/etc/bitrouter/bitrouter.yaml"), name));
  assert.ok(isEventFor(ev("create", "/etc/bitrouter/bitrouter.yaml"), name));
  assert.ok(isEventFor(ev("remove", "/etc/bitrouter/bitrouter.yaml"), name));
  // An editor's save: a temporary file renamed over the config.
  assert.ok(
    isEventFor(
      ev("rename", "/etc/bitrouter/.bitrouter.yaml.swp", "/etc/bitrouter/bitrouter.yaml"),
      name,
    ),
  );
  assert.ok(!isEventFor(ev("access", "/etc/bitrouter/bitrouter.yaml"), name));
  assert.ok(!isEventFor(ev("modify", "/etc/bitrouter/bitrouter.yaml.bak"), name));
  assert.ok(!isEventFor(ev("modify", "/etc/bitrouter/other.yaml"), name));
});

Deno.test("watchFile reports a write in place and a save by rename, each once settled", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitrouter-watch-" });
  const file = `${dir}/bitrouter.yaml`;
  await Deno.writeTextFile(file, "a: 1\n");
  let changed = Promise.withResolvers<void>();
  let calls = 0;
  const watch = watchFile(file, () => {
    calls++;
    changed.resolve();
  }, { debounceMs: 100 });
  try {
    await Deno.writeTextFile(file, "a: 2\n");
    await within(changed.promise, 5_000, "a write in place was not reported");
    assert.equal(calls, 1);

    changed = Promise.withResolvers<void>();
    await Deno.writeTextFile(`${dir}/.bitrouter.yaml.tmp`, "a: 3\n");
    await Deno.rename(`${dir}/.bitrouter.yaml.tmp`, file);
    await within(changed.promise, 5_000, "a save by rename was not reported");
    assert.equal(calls, 2);
  } finally {
    await watch.close();
    await Deno.remove(dir, { recursive: true });
  }
});
