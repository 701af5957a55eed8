/**
 * Prompt-cache affinity (SPEC §3.5): under `strategy: balance`, a request that continues a
 * conversation goes back to the endpoint that answered its previous turn while that endpoint has a
 * free slot, so llama.cpp's prompt cache, vLLM's prefix cache and Ollama's loaded context are reused
 * instead of recomputed. A conversation is known by its `x-bitrouter-session` header, else by a hash
 * of what stays the same from turn to turn: the system prompt and the first user message (every
 * later turn resends both, unchanged, in front).
 */

/** The most conversations remembered; the least recently used go first (SPEC §11: bounded). */
export const MAX_AFFINITY_ENTRIES = 4096;

/** Roles that carry the system prompt inside a message list (Chat Completions, Responses). */
const SYSTEM_ROLES = new Set(["system", "developer"]);

/** Conversation key → the endpoint (provider id and model) that served its last turn. */
export class AffinityTable {
  readonly #entries = new Map<string, string>();
  readonly #max: number;

  constructor(max = MAX_AFFINITY_ENTRIES) {
    this.#max = Math.max(1, max);
  }

  /** How many conversations are remembered. */
  get size(): number {
    return this.#entries.size;
  }

  /** The endpoint that served the conversation last, if remembered. */
  get(key: string): string | undefined {
    const v = this.#entries.get(key);
    if (v !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, v);
    }
    return v;
  }

  /** Remembers the endpoint that served the conversation's latest turn. */
  set(key: string, endpoint: string): void {
    this.#entries.delete(key);
    this.#entries.set(key, endpoint);
    if (this.#entries.size > this.#max) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }
}

/** An endpoint's name in the affinity table. */
export function endpointKey(providerId: string, model: string): string {
  return `${providerId}\u0000${model}`;
}

/**
 * The key of the conversation a request continues: the session header when sent, else a hash of
 * the model asked, the system prompt and the opening messages; undefined when the request has none
 * (nothing to keep together).
 */
export function conversationKey(
  model: string,
  body: Record<string, unknown>,
  session: string | null,
): string | undefined {
  if (session) return `s:${model}\u0000${session.slice(0, 200)}`;
  const messages = Array.isArray(body.messages)
    ? body.messages
    : Array.isArray(body.input)
    ? body.input
    : Array.isArray(body.contents)
    ? body.contents
    : undefined;
  const system = body.system ?? body.instructions ?? body.systemInstruction;
  if (!messages?.length && system === undefined) return undefined;
  const opening = messages ? openingOf(messages) : [];
  return `h:${model}\u0000${hash(JSON.stringify([system ?? null, opening]))}`;
}

/** The messages up to and including the first one that is not a system prompt. */
function openingOf(messages: unknown[]): unknown[] {
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    const role = typeof m === "object" && m !== null ? (m as { role?: unknown }).role : undefined;
    if (typeof role !== "string" || !SYSTEM_ROLES.has(role)) return messages.slice(0, i + 1);
  }
  return messages;
}

/** FNV-1a over UTF-16 code units, twice with different seeds: 64 bits, enough to tell conversations apart. */
function hash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return (a >>> 0).toString(36) + (b >>> 0).toString(36);
}
