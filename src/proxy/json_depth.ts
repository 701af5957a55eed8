/**
 * How deep a client's JSON may nest where BitRouter walks it: translation, a fallback list's
 * rewrite and token estimates recurse (JSON.stringify too), and JSON nested 100,000 deep
 * overflows the stack there. Real requests — JSON schemas, tool arguments — stay far below.
 */
export const MAX_JSON_DEPTH = 512;

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether valid JSON text nests objects and arrays deeper than `max`. One pass over the text,
 * skipping strings; run only on the paths that recurse, never on a same-protocol relay.
 */
export function nestsDeeperThan(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Skip the string: to the next quote not escaped.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return false;
}

/** The message for a request refused for its depth, in words a user can act on. */
export function tooDeepMessage(max = MAX_JSON_DEPTH): string {
  return `the request body nests objects or arrays more than ${max} levels deep; BitRouter cannot translate or rewrite it — flatten it, or send it to a server of the same protocol without a \`models\` list`;
}
