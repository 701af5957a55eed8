/**
 * Token usage of one request (SPEC §8), the same whatever protocol the upstream spoke. A count the
 * upstream did not report is `null` (unknown), never 0; a request whose upstream reported nothing
 * has no Usage at all.
 */
export interface Usage {
  /** Every input token, cached ones included (OpenAI's `prompt_tokens`). */
  input: number | null;
  /** Every output token, reasoning included (OpenAI's `completion_tokens`). */
  output: number | null;
  /** Input tokens read from the provider's prompt cache (part of `input`). */
  cachedInput: number | null;
  /** Input tokens written to the provider's prompt cache (Anthropic; part of `input`). */
  cacheWrite: number | null;
  /** Output tokens spent on reasoning (part of `output`). */
  reasoning: number | null;
}

/** A Usage with every count unknown, to fill in. */
export function unknownUsage(): Usage {
  return { input: null, output: null, cachedInput: null, cacheWrite: null, reasoning: null };
}

/** A whole, non-negative token count, or null for anything else. */
export function tokenCount(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? Math.round(v) : null;
}

/** The usage with each count `later` knows replacing `earlier`'s (stream events report in parts). */
export function mergeUsage(
  earlier: Usage | undefined,
  later: Usage | undefined,
): Usage | undefined {
  if (!earlier) return later;
  if (!later) return earlier;
  return {
    input: later.input ?? earlier.input,
    output: later.output ?? earlier.output,
    cachedInput: later.cachedInput ?? earlier.cachedInput,
    cacheWrite: later.cacheWrite ?? earlier.cacheWrite,
    reasoning: later.reasoning ?? earlier.reasoning,
  };
}

/** Whether any count is known. */
export function hasUsage(u: Usage | undefined): u is Usage {
  return u !== undefined &&
    (u.input !== null || u.output !== null || u.cachedInput !== null || u.cacheWrite !== null ||
      u.reasoning !== null);
}

/**
 * The JSON object that follows the last `"key":` in text, parsed; undefined when there is none or
 * it is cut off. Reads a usage block out of an answer's or a stream's end without parsing the
 * whole document (SPEC §9): in JSON text an unescaped `"usage":` can only be a key.
 */
export function lastObjectAfter(text: string, key: string): Record<string, unknown> | undefined {
  const needle = `"${key}"`;
  let at = text.lastIndexOf(needle);
  while (at >= 0) {
    const found = objectAt(text, at + needle.length);
    if (found) return found;
    at = at === 0 ? -1 : text.lastIndexOf(needle, at - 1);
  }
  return undefined;
}

/** The object after `: ` at position i (just past a key), or undefined. */
function objectAt(text: string, i: number): Record<string, unknown> | undefined {
  while (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r") i++;
  if (text[i] !== ":") return undefined;
  i++;
  while (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r") i++;
  if (text[i] !== "{") return undefined;
  const end = matchingBrace(text, i);
  if (end < 0) return undefined;
  try {
    const value = JSON.parse(text.slice(i, end + 1));
    return value && typeof value === "object" && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The index of the `}` closing the `{` at start (strings skipped), or -1 when cut off. */
function matchingBrace(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: skip to its closing quote, past escapes.
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c) i++;
        else if (s === 0x22) break;
      }
    } else if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) return i;
  }
  return -1;
}
