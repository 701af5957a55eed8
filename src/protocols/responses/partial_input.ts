/**
 * The freeform input of a custom tool call while its JSON arguments (`{"input": "..."}`) are still
 * arriving: the decoded text of the `input` string so far, up to the last complete character.
 */
import { CUSTOM_TOOL_INPUT } from "./chat_request.ts";

const START = new RegExp(`^\\s*\\{\\s*"${CUSTOM_TOOL_INPUT}"\\s*:\\s*"`);
const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

/** The decoded prefix of the `input` string in partial arguments; undefined until it has begun. */
export function partialCustomToolInput(args: string): string | undefined {
  const start = START.exec(args);
  if (!start) return undefined;
  let out = "";
  let i = start[0].length;
  while (i < args.length) {
    const c = args[i];
    if (c === '"') break;
    if (c !== "\\") {
      out += c;
      i++;
      continue;
    }
    const next = args[i + 1];
    // An escape cut by the chunk boundary: wait for the rest.
    if (next === undefined) break;
    if (next === "u") {
      const hex = args.slice(i + 2, i + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) break;
      out += String.fromCharCode(parseInt(hex, 16));
      i += 6;
      continue;
    }
    out += ESCAPES[next] ?? next;
    i += 2;
  }
  return out;
}
