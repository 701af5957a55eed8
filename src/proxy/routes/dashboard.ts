import type { Route } from "../router.ts";

/**
 * The dashboard's files, beside this folder. `deno compile` embeds them with `--include`
 * (deno.json's compile task, release.yml); they are read once, on the first request for them.
 */
const ASSETS = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/dashboard.js": { file: "dashboard.js", type: "text/javascript; charset=utf-8" },
  "/dashboard.css": { file: "dashboard.css", type: "text/css; charset=utf-8" },
} as const;

/** The paths the dashboard is served at. */
export const DASHBOARD_PATHS = Object.keys(ASSETS) as (keyof typeof ASSETS)[];

/**
 * The page may load its own script, style and data and nothing else: no other host, no inline
 * script, no framing (a page that shows a router's state must not be embedded elsewhere).
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const texts = new Map<string, Promise<string>>();

/** A file's text, read once (a failed read is tried again next time). */
function asset(file: string): Promise<string> {
  let text = texts.get(file);
  if (!text) {
    text = Deno.readTextFile(new URL(`../dashboard/${file}`, import.meta.url));
    texts.set(file, text);
    text.catch(() => texts.delete(file));
  }
  return text;
}

/**
 * `GET /`, `/dashboard.js`, `/dashboard.css`: the read-only dashboard. No key is needed for the
 * page itself (it holds no data: it asks for the key, then reads the status and the event
 * stream with it), but the Host/Origin guard of SPEC §11 applies as for every endpoint.
 */
export function dashboardRoute(path: keyof typeof ASSETS): Route {
  const { file, type } = ASSETS[path];
  return {
    methods: ["GET", "HEAD"],
    style: "openai",
    label: "dashboard",
    keyless: () => true,
    handle: async ({ request, requestId, table, fail }) => {
      let text: string;
      try {
        text = await asset(file);
      } catch (e) {
        // Only a build that left the files out gets here: say so, rather than an internal error.
        return fail({
          status: 503,
          type: "server_error",
          code: "dashboard_unavailable",
          message: `the dashboard's ${file} is not in this build (${
            (e as Error).message.slice(0, 200)
          }); build with \`deno task compile\`, which embeds it`,
        }, { "retry-after": "3600" });
      }
      // The page asks for the key before its first call when auth is on (what a 401 would say),
      // instead of failing a call first.
      if (file === "index.html" && !table.config.server.skipAuth) {
        text = text.replace('data-auth="off"', 'data-auth="key"');
      }
      return new Response(request.method === "HEAD" ? null : text, {
        headers: {
          "content-type": type,
          "content-security-policy": DASHBOARD_CSP,
          "x-content-type-options": "nosniff",
          "referrer-policy": "no-referrer",
          "x-frame-options": "DENY",
          "cache-control": "no-cache",
          "x-request-id": requestId,
        },
      });
    },
  };
}
