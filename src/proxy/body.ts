/** The request body is larger than `server.max_body_mb`. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body is larger than ${limit} bytes (server.max_body_mb)`);
    this.name = "BodyTooLargeError";
  }
}

/** Reads a request body, refusing before reading it whole once it passes `limit` bytes. */
export async function readBodyLimited(
  req: Request,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > limit) {
    await req.body?.cancel().catch(() => {});
    throw new BodyTooLargeError(limit);
  }
  if (Number.isFinite(declared)) {
    // A declared length within the limit: let the runtime read it in one go. `req.body` is not
    // touched on this path: Deno.serve hands a buffered body to arrayBuffer() directly, but
    // reading `req.body` first builds a ReadableStream around it, about 7 µs per request in
    // Deno 2.9.6 (bench).
    const bytes = new Uint8Array(await req.arrayBuffer());
    if (bytes.length > limit) throw new BodyTooLargeError(limit);
    return bytes;
  }
  if (!req.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLargeError(limit);
    }
    chunks.push(value);
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
