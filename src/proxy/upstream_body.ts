/**
 * The most of an upstream error body read: any real API error fits many times over, and a
 * 256 MB error page costs no more than this (SPEC §11).
 */
export const ERROR_BODY_BYTES = 64 * 1024;

/** An upstream body, read no further than a limit. */
export interface LimitedBody {
  /** The whole body; when it went past the limit, its first `limit` bytes (none without `keepHead`). */
  bytes: Uint8Array<ArrayBuffer>;
  /** false: the body is larger than the limit; the rest of it was cancelled. */
  whole: boolean;
}

/** The first block of a body whose length is not known in advance; most answers fit in it. */
const FIRST_BLOCK_BYTES = 64 * 1024;
/** Blocks double up to this size, so a large body takes few reads and little unused room. */
const MAX_BLOCK_BYTES = 4 * 1024 * 1024;

const EMPTY = new Uint8Array(0);

/** A size for messages: `64 MiB`, `0.5 MiB`. */
export function mebibytes(bytes: number): string {
  return `${Number((bytes / (1024 * 1024)).toFixed(2))} MiB`;
}

/**
 * Reads an upstream body up to `limit` bytes as fetch hands them over (decompressed), cancelling
 * it as soon as it passes the limit, so an upstream can make BitRouter hold no more than that.
 *
 * Why it is shaped this way (Deno 2.9.6):
 * - An honest `content-length` within the limit on an unencoded body takes `arrayBuffer()`, the
 *   runtime's own whole read, as before limits existed: the common answer pays nothing.
 * - Otherwise bytes are read into blocks BitRouter allocates (a BYOB reader), then joined once.
 *   fetch's default reader hands each chunk in a fresh 64 KiB buffer, however few bytes it holds
 *   (4 KiB when gzip is decoded): keeping those chunks would hold up to 16 times what was counted.
 */
export async function readUpTo(
  res: Response,
  limit: number,
  keepHead = true,
): Promise<LimitedBody> {
  const body = res.body;
  if (body === null) return { bytes: EMPTY, whole: true };
  const declared = declaredLength(res.headers);
  if (declared !== undefined && declared <= limit) {
    return { bytes: new Uint8Array(await res.arrayBuffer()), whole: true };
  }
  if (declared !== undefined && !keepHead) {
    await body.cancel().catch(() => {});
    return { bytes: EMPTY, whole: false };
  }
  let byob: ReadableStreamBYOBReader | undefined;
  let plain: ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream (a test's fake fetch, a Response built from a stream): copy its chunks.
    plain = body.getReader();
  }
  // Room for one byte past the limit: reading it is how a body is found to be too large.
  const room = limit + 1;
  const blocks: Uint8Array<ArrayBuffer>[] = [];
  let block = new Uint8Array(Math.min(FIRST_BLOCK_BYTES, room));
  let filled = 0;
  let total = 0;
  const nextBlock = () => {
    blocks.push(block);
    block = new Uint8Array(
      Math.min(Math.max(total, FIRST_BLOCK_BYTES), MAX_BLOCK_BYTES, room - total),
    );
    filled = 0;
  };
  while (total < room) {
    if (filled === block.length) nextBlock();
    if (byob) {
      const { done, value } = await byob.read(
        new Uint8Array(block.buffer, filled, block.length - filled),
      );
      // The read moved the block's buffer into `value`; keep it under the new handle. Without a
      // value the buffer is gone: only a cancel from elsewhere ends a read that way.
      if (!value) throw new TypeError("the upstream body was cancelled while it was read");
      block = new Uint8Array(value.buffer as ArrayBuffer);
      if (done) break;
      filled += value.byteLength;
      total += value.byteLength;
      continue;
    }
    const { done, value } = await plain!.read();
    if (done) break;
    let chunk = value;
    while (chunk.length > 0 && total < room) {
      if (filled === block.length) nextBlock();
      const n = Math.min(chunk.length, block.length - filled);
      block.set(chunk.subarray(0, n), filled);
      chunk = chunk.subarray(n);
      filled += n;
      total += n;
    }
  }
  blocks.push(block.subarray(0, filled));
  const whole = total <= limit;
  if (!whole) {
    await (byob ?? plain)!.cancel().catch(() => {});
    if (!keepHead) return { bytes: EMPTY, whole };
  }
  return { bytes: joined(blocks, Math.min(total, limit)), whole };
}

/**
 * The body's length when its `content-length` says it: not when the body is encoded, since fetch
 * decodes it and the header counts the compressed bytes (a small gzip can decode to gigabytes).
 */
function declaredLength(headers: Headers): number | undefined {
  const encoding = headers.get("content-encoding");
  if (encoding !== null && encoding.trim().toLowerCase() !== "identity") return undefined;
  const length = headers.get("content-length");
  if (length === null || !/^\s*\d+\s*$/.test(length)) return undefined;
  return Number(length);
}

/** The first `size` bytes of the blocks as one array: the only copy, and none for one block. */
function joined(blocks: Uint8Array<ArrayBuffer>[], size: number): Uint8Array<ArrayBuffer> {
  const nonEmpty = blocks.filter((b) => b.length > 0);
  if (nonEmpty.length === 0) return EMPTY;
  if (nonEmpty.length === 1) return nonEmpty[0].subarray(0, size);
  const out = new Uint8Array(size);
  let offset = 0;
  for (const b of nonEmpty) {
    if (offset >= size) break;
    const part = b.subarray(0, size - offset);
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
