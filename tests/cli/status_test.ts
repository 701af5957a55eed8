/** `bitrouter status` without a router: what it prints safely, and where the config's key goes. */
import assert from "node:assert/strict";
import { statusCommand } from "../../src/cli/status.ts";
import { printable } from "../../src/observe/log.ts";
import type { Io } from "../../src/cli/io.ts";

Deno.test("printable escapes every control character a client could put in a name or an error", () => {
  assert.equal(
    printable("\x1b]0;PWNED\x07\x1b[2J\r\nfake\x7f\x9b1m"),
    "\\x1b]0;PWNED\\x07\\x1b[2J\\x0d\\x0afake\\x7f\\x9b1m",
  );
  assert.equal(printable("llama3.1:8b\tup:模型 🦙"), "llama3.1:8b\tup:模型 🦙", "text as it is");
});

Deno.test("the config's key is sent to the config's own router, never to another --url", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/bitrouter.yaml`,
      "server: { listen: 127.0.0.1:45991, skip_auth: false, api_keys: [sk-config-key-123456] }\n",
    );
    const sent: { url: string; authorization: string | null }[] = [];
    const io: Io = {
      out: () => {},
      err: () => {},
      env: () => undefined,
      cwd: dir,
      fetch: (input, init) => {
        const url = String(input);
        sent.push({ url, authorization: new Headers(init?.headers).get("authorization") });
        if (url.endsWith("/health")) {
          return Promise.resolve(
            new Response("{}", { headers: { "x-bitrouter-version": "0.1.0" } }),
          );
        }
        return Promise.resolve(new Response("{}", { status: 401 }));
      },
    };
    await assert.rejects(statusCommand(["--url", "http://127.0.0.1:45992"], io), /wants a key/);
    await assert.rejects(statusCommand([], io), /refused the one sent/);
    assert.deepEqual(sent.map((s) => [new URL(s.url).port, s.authorization]), [
      ["45992", null],
      ["45992", null],
      ["45991", null],
      ["45991", "Bearer sk-config-key-123456"],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
