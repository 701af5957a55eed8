import assert from "node:assert/strict";
import { parseListing, parseSize } from "./compile_size.ts";

// deno compile 2.9.6's listing, colours included, as the bench reads it.
const LISTING = `\x1b[0m\x1b[32mCompile\x1b[0m main.ts to dist/bitrouter

\x1b[0m\x1b[1mEmbedded Files\x1b[0m

bitrouter
├─┬ .deno_compile_node_modules (6.68MB - 6.61MB unique)
│ ├── eventsource-parser/4.1.3/* (96.1KB)
│ ├── yaml/2.9.1/* (675.49KB - 674.01KB unique)
│ └── zod/4.6.7/* (5.93MB - 5.86MB unique)
├── main.ts (7.43KB)
└─┬ src (1.54MB)
  ├── config/* (173.94KB)
  └── version.ts (316B)

Files: 8.26MB
Metadata: 2.64KB
`;

Deno.test("bench: compile size reads deno compile's listing of embedded files and npm packages", () => {
  const l = parseListing(LISTING);
  assert.equal(l.files_bytes, 8.26 * 1024 * 1024);
  assert.equal(l.npm_bytes, 6.68 * 1024 * 1024);
  assert.deepEqual(l.npm_packages, ["eventsource-parser@4.1.3", "yaml@2.9.1", "zod@4.6.7"]);
});

Deno.test("bench: a node_modules directory embedded whole is counted as npm", () => {
  const l = parseListing(
    "br\n├── main.ts (7.43KB)\n├── node_modules/* (92.75MB - 92.39MB unique)\nFiles: 94.98MB\n",
  );
  assert.equal(l.npm_bytes, 92.75 * 1024 * 1024);
  assert.deepEqual(l.npm_packages, []);
  assert.equal(parseSize("316B"), 316);
  assert.throws(() => parseListing("error: no listing"), /no Embedded Files listing/);
});
