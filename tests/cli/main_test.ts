/** main.ts's dispatch: command names, including ones an object inherits, and exit codes. */
import assert from "node:assert/strict";
import { main } from "../../main.ts";
import type { Io } from "../../src/cli/io.ts";

function collectingIo() {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: () => undefined,
    cwd: "/nonexistent",
    fetch: () => Promise.reject(new Error("no network in this test")),
  };
  return { io, out, err };
}

for (const name of ["nosuch", "toString", "constructor", "__proto__", "hasOwnProperty"]) {
  Deno.test(`"bitrouter ${name}" is an unknown command: usage on stderr, exit 2`, async () => {
    const { io, out, err } = collectingIo();
    assert.equal(await main([name], io), 2);
    assert.deepEqual(out, []);
    assert.match(err.join("\n"), new RegExp(`unknown command "${name}"[\\s\\S]*Usage: bitrouter`));
  });
}

Deno.test("--help lists every command main.ts dispatches", async () => {
  const { io, out } = collectingIo();
  assert.equal(await main(["--help"], io), 0);
  const help = out.join("\n");
  for (
    const name of [
      "serve",
      "start",
      "stop",
      "restart",
      "logs",
      "status",
      "init",
      "route",
      "models",
      "providers",
      "config validate",
      "usage",
    ]
  ) {
    assert.match(help, new RegExp(`^  ${name}\\b`, "m"), `--help does not list ${name}`);
  }
});
