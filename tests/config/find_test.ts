import assert from "node:assert/strict";
import { ConfigNotFoundError, findConfig, userCwd } from "../../src/config/find.ts";

const fe = (files: string[], vars: Record<string, string> = {}) => ({
  cwd: "/work",
  env: (n: string) => vars[n],
  exists: (p: string) => files.includes(p),
});

Deno.test("-c wins over every other location, resolved against the user's folder", () => {
  const found = findConfig("conf/b.yaml", fe(["/work/conf/b.yaml", "/work/bitrouter.yaml"]));
  assert.deepEqual(found, { path: "/work/conf/b.yaml", source: "flag" });
});

Deno.test("a missing -c file is an error, never a fallback", () => {
  assert.throws(() => findConfig("nope.yaml", fe(["/work/bitrouter.yaml"])), ConfigNotFoundError);
});

Deno.test("./bitrouter.yaml comes before $BITROUTER_HOME and ~/.bitrouter", () => {
  const files = [
    "/work/bitrouter.yaml",
    "/srv/br/bitrouter.yaml",
    "/home/u/.bitrouter/bitrouter.yaml",
  ];
  assert.equal(
    findConfig(undefined, fe(files, { BITROUTER_HOME: "/srv/br", HOME: "/home/u" })).source,
    "cwd",
  );
  assert.equal(
    findConfig(undefined, fe(files.slice(1), { BITROUTER_HOME: "/srv/br", HOME: "/home/u" }))
      .source,
    "BITROUTER_HOME",
  );
  assert.equal(
    findConfig(undefined, fe(files.slice(2), { HOME: "/home/u" })).path,
    "/home/u/.bitrouter/bitrouter.yaml",
  );
});

Deno.test("$BITROUTER_HOME set without the file is an error", () => {
  assert.throws(
    () =>
      findConfig(
        undefined,
        fe(["/home/u/.bitrouter/bitrouter.yaml"], { BITROUTER_HOME: "/srv/br", HOME: "/home/u" }),
      ),
    /BITROUTER_HOME is set/,
  );
});

Deno.test("no file anywhere means zero-config", () => {
  assert.deepEqual(findConfig(undefined, fe([], { HOME: "/home/u" })), { source: "zero-config" });
});

Deno.test("under deno task the user's folder comes from INIT_CWD", () => {
  assert.equal(
    userCwd((n) => (n === "INIT_CWD" ? "/home/u/proj" : undefined), "/opt/bitrouter"),
    "/home/u/proj",
  );
  assert.equal(userCwd(() => undefined, "/opt/bitrouter"), "/opt/bitrouter");
});
