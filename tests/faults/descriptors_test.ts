/**
 * Fault suite, the router's own limits: when every file descriptor is taken (here by clients that
 * never finish their request headers, which Deno.serve holds with no time limit), Deno.serve's
 * accept loop ends with EMFILE. `bitrouter serve` must not exit: it logs what to raise and
 * listens again once descriptors are free.
 */
import assert from "node:assert/strict";
import { startRouter, within } from "../e2e/helpers.ts";

const LIMIT = 128;

Deno.test({
  name: "out of file descriptors, serve keeps running and accepts again once they are free",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const router = await startRouter({
      config: "server: { watch: false }\n",
      openFileLimit: LIMIT,
    });
    const port = Number(new URL(router.url).port);
    const held: Deno.Conn[] = [];
    try {
      const halfHeaders = new TextEncoder().encode("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      // More connections than the router may hold open; the kernel accepts a backlog of them
      // even after the router cannot.
      for (let i = 0; i < LIMIT + 64; i++) {
        try {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          await conn.write(halfHeaders).catch(() => {});
          held.push(conn);
        } catch {
          break;
        }
      }
      const logged = await router.waitForStderr(
        /stopped accepting connections: .*[Tt]oo many open files.*LimitNOFILE/,
        10_000,
      );
      assert.ok(logged);
      for (const conn of held.splice(0)) conn.close();

      const answered = async () => {
        for (;;) {
          try {
            const res = await fetch(`${router.url}/health`, { signal: AbortSignal.timeout(1_000) });
            if (res.status === 200) return await res.json();
            await res.body?.cancel();
          } catch {
            // not listening yet
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      assert.deepEqual(await within(answered(), 10_000, "never answered again"), { status: "ok" });
      assert.match(router.stderr(), /listening again on http:\/\/127\.0\.0\.1:\d+/);
    } finally {
      for (const conn of held) conn.close();
      const status = await router.stop();
      assert.equal(status.code, 0, router.stderr());
    }
  },
});
