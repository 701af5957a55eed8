import type { ServerSettings } from "../config/types.ts";
import type { RouteTable } from "../routing/route_table.ts";
import type { ErrorBody, ErrorStyle } from "./envelope.ts";
import type { ForwardDeps } from "./forward.ts";

/** What an endpoint gets for one request, once the shared front steps have passed. */
export interface RequestContext {
  request: Request;
  url: URL;
  /** The path without trailing slashes. */
  path: string;
  /** The route table this request keeps to the end, even if a reload swaps in another. */
  table: RouteTable;
  requestId: string;
  /** Which client key the request presented (auth on), for its record; see auth.ts keyLabel. */
  keyLabel?: string;
  /** On the `now()` clock. */
  startedAt: number;
  /** `created` for model lists: seconds since the epoch when the server started. */
  createdSecs: number;
  deps: ForwardDeps;
  /** Logs the request (with the model asked, when known) and answers this error in the endpoint's envelope. */
  fail(e: ErrorBody, headers?: Record<string, string>, model?: string): Response;
}

/** One endpoint: the methods it takes, its error envelope, and its handler. */
export interface Route {
  /** Methods it takes (list HEAD beside GET where it applies); others get 405 with `Allow`. */
  methods: readonly string[];
  style: ErrorStyle;
  /**
   * The envelope for one request, where two APIs share a path (`/v1/models` is OpenAI's list and,
   * for Google's libraries, Gemini's): overrides `style`.
   */
  styleFor?(request: Request): ErrorStyle;
  /** What the request log line names as the client protocol. */
  label: string;
  /** No Host/Origin check and no key (only `/health`): it tells nothing and spends nothing. */
  open?: boolean;
  /** No key needed under this config (`/metrics` with `server.metrics_public: true`). */
  keyless?: (server: ServerSettings) => boolean;
  handle(ctx: RequestContext): Promise<Response> | Response;
}

/**
 * Endpoints by path (STYLE: a table of routes, each endpoint a small handler): exact paths, then
 * prefixes in the order added, for paths that carry an id (`/v1/models/{id}`).
 */
export class Routes {
  readonly #exact = new Map<string, Route>();
  readonly #prefixes: [string, Route][] = [];

  /** Adds an endpoint at an exact path. */
  add(path: string, route: Route): this {
    this.#exact.set(path, route);
    return this;
  }

  /** Adds an endpoint for every path under a prefix (e.g. `/v1/models/`). */
  addPrefix(prefix: string, route: Route): this {
    this.#prefixes.push([prefix, route]);
    return this;
  }

  /** The endpoint for a path, if any. */
  find(path: string): Route | undefined {
    const exact = this.#exact.get(path);
    if (exact) return exact;
    for (const [prefix, route] of this.#prefixes) if (path.startsWith(prefix)) return route;
    return undefined;
  }

  /** The exact paths served, for the message of an unknown path. */
  paths(): string[] {
    return [...this.#exact.keys()];
  }
}

/** The 405 answer's body. */
export function methodNotAllowed(method: string, allowed: readonly string[]): ErrorBody {
  return {
    status: 405,
    type: "invalid_request_error",
    code: "method_not_allowed",
    message: `method ${method.slice(0, 20)} is not allowed here; use ${allowed.join(" or ")}`,
  };
}
