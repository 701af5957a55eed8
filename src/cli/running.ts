import { formatListen } from "../config/listen.ts";
import type { ServerSettings } from "../config/types.ts";
import { printable } from "../observe/log.ts";
import { readUpTo } from "../proxy/upstream_body.ts";
import { type ServerStatus, STATUS_PATH } from "../proxy/routes/info.ts";
import { CliError } from "./io.ts";

/** How long a router gets to answer each request, by default. */
const ANSWER_MS = 3_000;

/** The largest status document read; a real one, even of a large config, is far smaller. */
const MAX_STATUS_BYTES = 16 * 1024 * 1024;

/** Where a router listening as `server.listen` says is reached from this machine. */
export function listenOrigin(server: ServerSettings): string {
  // A server listening on every interface is reached on loopback.
  const hostname = server.hostname === "0.0.0.0"
    ? "127.0.0.1"
    : server.hostname === "::"
    ? "::1"
    : server.hostname;
  return `http://${formatListen({ hostname, port: server.port })}`;
}

/** Nothing answers at the address. */
export class NotRunningError extends CliError {
  constructor(origin: string) {
    super(
      `no bitrouter is running at ${origin}`,
      "start one with `bitrouter start` or `bitrouter serve`, or pass --url",
    );
  }
}

/**
 * The status of the router at `origin`, each request given answerMs. The key is sent only to a
 * server whose open /health says it is a BitRouter (SPEC §11), and redirects are not followed:
 * the key goes to this address or nowhere. Throws NotRunningError when nothing answers there,
 * and a CliError saying what else went wrong otherwise.
 */
export async function askStatus(
  origin: string,
  key: string | undefined,
  fetchFn: typeof fetch,
  answerMs = ANSWER_MS,
): Promise<ServerStatus> {
  const get = (path: string, headers: Record<string, string> = {}) =>
    fetchFn(origin + path, {
      headers,
      redirect: "manual",
      signal: AbortSignal.timeout(answerMs),
    });
  let health: Response;
  try {
    health = await get("/health");
    await health.body?.cancel();
  } catch {
    throw new NotRunningError(origin);
  }
  if (!health.headers.has("x-bitrouter-version")) {
    throw new CliError(
      `what answers at ${origin} is not a bitrouter (its /health says HTTP ${health.status})`,
      "pass the router's address with --url",
    );
  }
  let res: Response;
  try {
    res = await get(STATUS_PATH, key ? { authorization: `Bearer ${key}` } : {});
  } catch (e) {
    throw new CliError(
      `the bitrouter at ${origin} did not answer ${STATUS_PATH}: ${(e as Error).message}`,
    );
  }
  if (res.status === 401) {
    await res.body?.cancel();
    throw new CliError(
      `the bitrouter at ${origin} wants a key${key ? " and refused the one sent" : ""}`,
      "set BITROUTER_API_KEY, or pass the config with its server.api_keys with -c",
    );
  }
  if (!res.ok) {
    const head = await readUpTo(res, 300).catch(() => undefined);
    const text = printable(new TextDecoder().decode(head?.bytes ?? new Uint8Array()));
    throw new CliError(`the bitrouter at ${origin} answered ${res.status}: ${text}`);
  }
  const read = await readUpTo(res, MAX_STATUS_BYTES, false).catch(() => undefined);
  let status: ServerStatus | undefined;
  try {
    status = read?.whole ? JSON.parse(new TextDecoder().decode(read.bytes)) : undefined;
  } catch {
    status = undefined;
  }
  if (status?.object !== "bitrouter.status" || !Array.isArray(status.endpoints)) {
    throw new CliError(`the bitrouter at ${origin} answered a status this version cannot read`);
  }
  return status;
}
