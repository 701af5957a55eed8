/**
 * Codex's `namespace` tools (`{"type":"namespace","name":"multi_agent_v1","tools":[…]}`) on a
 * Chat Completions upstream, which knows only flat function names: each inner tool is offered as
 * `namespace__tool`. Chat Completions (OpenAI's and most servers' validation) allows 64 characters
 * of `[A-Za-z0-9_-]`; a longer name keeps its first characters and ends in a hash of the whole,
 * so the same tool always gets the same name and two long names do not collide.
 */

/** The longest function name Chat Completions accepts. */
export const MAX_TOOL_NAME = 64;

/** The chat function name of tool `name` in namespace `namespace`. */
export function flatToolName(namespace: string, name: string): string {
  const flat = `${namespace}__${name}`;
  if (flat.length <= MAX_TOOL_NAME) return flat;
  const hash = fnv1a(flat).toString(16).padStart(8, "0");
  return `${flat.slice(0, MAX_TOOL_NAME - hash.length - 1)}_${hash}`;
}

/** 32-bit FNV-1a of a string's UTF-16 code units: small, stable, synchronous. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
