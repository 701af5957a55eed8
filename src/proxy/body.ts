import type { Deadlines } from "./deadlines.ts";

/** The request body is larger than `server.max_body_mb`. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body is larger than ${limit} bytes (server.max_body_mb)`);
    this.name = "BodyTooLargeError";
  }
}

/** The request body did not arrive whole within `server.body_timeout_secs`. */
export class BodyTimeoutError extends Error {
  constructor(readonly secs: number) {
    super(`the request body did not arrive within ${secs}s (server.body_timeout_secs)`);
    this.name = "BodyTimeoutError";
  }
}

/** When the whole body must have arrived: a moment on the `deadlines` clock. */
export interface BodyDeadline {
  deadlines: Deadlines;
  at: number;
  /** The configured limit, for the error message. */
  secs: number;
}

/**
 * The largest declared body read with `arrayBuffer()`; larger ones are read through a reader.
 *
 * Why two paths (Deno 2.9.6): when hyper already holds the whole body, `arrayBuffer()` takes it
 * without building a stream, while `req.body` first wraps it in a ReadableStream, about 5–7 µs
 * more per request (bench). But an `arrayBuffer()` whose body has not arrived cannot be
 * cancelled: the read stays pending until the client sends the rest or closes its connection,
 * whatever the response said. A reader can be cancelled. So small bodies, the common case and
 * the one that usually arrives with the headers, keep the fast path, and what a stalled small
 * body can hold is bounded by this size; everything larger, where a wrapper costs nothing next
 * to the bytes, goes through a reader that the deadline cancels.
 */
export const FAST_BODY_BYTES = 64 * 1024;

/**
 * Reads a request body, refusing before reading it whole once it passes `limit` bytes, and
 * giving up with a BodyTimeoutError when it has not arrived by `deadline` (slowloris).
 */
export async function readBodyLimited(
  req: Request,
  limit: number,
  deadline?: BodyDeadline,
): Promise<Uint8Array<ArrayBuffer>> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > limit) {
    await req.body?.cancel().catch(() => {});
    throw new BodyTooLargeError(limit);
  }
  if (declared <= FAST_BODY_BYTES) {
    // A small declared length: let the runtime read it in one go. `req.body` is not touched on
    // this path: Deno.serve hands a buffered body to arrayBuffer() directly (see FAST_BODY_BYTES).
    const whole = req.arrayBuffer();
    const bytes = new Uint8Array(deadline ? await withDeadline(whole, deadline) : await whole);
    if (bytes.length > limit) throw new BodyTooLargeError(limit);
    return bytes;
  }
  if (!req.body) return new Uint8Array();
  const reader = req.body.getReader();
  let timedOut = false;
  const timer = deadline?.deadlines.add(deadline.at, () => {
    timedOut = true;
    // Settles the pending read (done), so nothing is left waiting on the client.
    reader.cancel(new BodyTimeoutError(deadline.secs)).catch(() => {});
  });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (timedOut) throw new BodyTimeoutError(deadline!.secs);
      if (done) break;
      size += value.length;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        throw new BodyTooLargeError(limit);
      }
      chunks.push(value);
    }
  } finally {
    deadline?.deadlines.cancel(timer);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/**
 * The body, or a BodyTimeoutError once the deadline passes. The read itself cannot be cancelled
 * (see FAST_BODY_BYTES); it ends when the client completes or closes the connection.
 */
function withDeadline(body: Promise<ArrayBuffer>, d: BodyDeadline): Promise<ArrayBuffer> {
  return new Promise((resolve, reject) => {
    const timer = d.deadlines.add(d.at, () => reject(new BodyTimeoutError(d.secs)));
    body.then((bytes) => {
      d.deadlines.cancel(timer);
      resolve(bytes);
    }, (e) => {
      d.deadlines.cancel(timer);
      reject(e);
    });
  });
}

/**
 * The JSON text with the top-level `"model"` value replaced and every other byte kept as sent
 * (SPEC §5: only `model` is rewritten); undefined when the key is not found exactly once as
 * written, so the caller re-serialises instead. The text must already parse as an object.
 */
export function replaceModel(text: string, model: string): string | undefined {
  let depth = 0;
  let found: [number, number] | undefined;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = stringEnd(text, i);
      if (depth === 1 && end - i === 6 && text.startsWith("model", i + 1)) {
        let j = end + 1;
        while (j < n && text[j] !== ":") j++;
        j++;
        while (
          j < n && (text[j] === " " || text[j] === "\n" || text[j] === "\r" || text[j] === "\t")
        ) j++;
        if (found || text[j] !== '"') return undefined;
        const valueEnd = stringEnd(text, j);
        found = [j, valueEnd + 1];
        i = valueEnd + 1;
        continue;
      }
      i = end + 1;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) depth++;
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
    i++;
  }
  return found && text.slice(0, found[0]) + JSON.stringify(model) + text.slice(found[1]);
}

/** Index of the quote closing the JSON string that opens at `start`. */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const q = text.indexOf('"', i);
    if (q < 0) return text.length;
    let backslashes = 0;
    for (let k = q - 1; text[k] === "\\"; k--) backslashes++;
    if (backslashes % 2 === 0) return q;
    i = q + 1;
  }
}
