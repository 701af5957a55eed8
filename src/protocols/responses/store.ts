/**
 * Stored responses (SPEC §6): what lets `previous_response_id` and `item_reference` work in front
 * of servers that keep nothing (Chat Completions and Messages upstreams). Each response BitRouter
 * translated for a Responses client with `store` on is kept with the input it answered — the whole
 * conversation up to it, so a chain never depends on an older record — until
 * `responses.store_ttl_secs` after it was written.
 *
 * In memory, bounded by count and by bytes (SPEC §11: nothing a client sends grows memory without
 * limit): the least recently used records leave first. Records are kept as JSON text, so what a
 * later request gets is a copy, and their size is known exactly.
 */

/** One stored response: the Responses object and the input items it answered. */
export interface StoredResponse {
  response: Record<string, unknown>;
  input: unknown[];
}

/** Where stored responses live; in memory here, a database later (the usage store's). */
export interface ResponseStore {
  /** Keeps a response (its `id` and its output items' ids become findable) for ttlSecs. */
  put(stored: StoredResponse, ttlSecs: number): void;
  /** The response with this id, unless unknown or expired. */
  get(id: string): StoredResponse | undefined;
  /** An input or output item of a stored response, by its id. */
  item(id: string): Record<string, unknown> | undefined;
  /** Removes a response; whether there was one. */
  delete(id: string): boolean;
}

/** The bounds of the in-memory store. */
export interface MemoryStoreLimits {
  /** most responses kept */
  maxCount: number;
  /** most bytes of JSON kept, all responses together */
  maxBytes: number;
}

/** 10,000 responses or 64 MiB, whichever is reached first. */
export const DEFAULT_STORE_LIMITS: MemoryStoreLimits = {
  maxCount: 10_000,
  maxBytes: 64 * 1024 * 1024,
};

interface Entry {
  response: string;
  input: string;
  itemIds: string[];
  bytes: number;
  expiresAt: number;
}

/** The in-memory ResponseStore: a Map in least-recently-used order, and an index of item ids. */
export class MemoryResponseStore implements ResponseStore {
  readonly #entries = new Map<string, Entry>();
  readonly #items = new Map<string, string>();
  #bytes = 0;
  readonly #limits: MemoryStoreLimits;
  readonly #now: () => number;

  /** now: milliseconds on any clock that only goes forward (tests pass their own). */
  constructor(limits: MemoryStoreLimits = DEFAULT_STORE_LIMITS, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /** How many responses are kept, and how many bytes they take. */
  get size(): { count: number; bytes: number } {
    return { count: this.#entries.size, bytes: this.#bytes };
  }

  put(stored: StoredResponse, ttlSecs: number): void {
    const id = stored.response.id;
    if (typeof id !== "string") return;
    const response = JSON.stringify(stored.response);
    const input = JSON.stringify(stored.input);
    const bytes = (response.length + input.length) * 2;
    // One response larger than the whole store is not kept (and evicts nothing).
    if (bytes > this.#limits.maxBytes) return;
    this.delete(id);
    const itemIds = [...itemIdsOf(stored.input), ...itemIdsOf(stored.response.output)];
    this.#entries.set(id, {
      response,
      input,
      itemIds,
      bytes,
      expiresAt: this.#now() + ttlSecs * 1000,
    });
    for (const item of itemIds) this.#items.set(item, id);
    this.#bytes += bytes;
    // Least recently used first out while over a bound; expired ones at the front go too.
    const now = this.#now();
    for (const [old, entry] of this.#entries) {
      const within = this.#entries.size <= this.#limits.maxCount &&
        this.#bytes <= this.#limits.maxBytes;
      if (within && entry.expiresAt > now) break;
      this.delete(old);
    }
  }

  get(id: string): StoredResponse | undefined {
    const entry = this.#live(id);
    if (!entry) return undefined;
    return { response: JSON.parse(entry.response), input: JSON.parse(entry.input) };
  }

  item(id: string): Record<string, unknown> | undefined {
    const owner = this.#items.get(id);
    const stored = owner === undefined ? undefined : this.get(owner);
    if (!stored) return undefined;
    const output = Array.isArray(stored.response.output) ? stored.response.output : [];
    return [...output, ...stored.input].find((i): i is Record<string, unknown> =>
      isObject(i) && i.id === id
    );
  }

  delete(id: string): boolean {
    const entry = this.#entries.get(id);
    if (!entry) return false;
    this.#entries.delete(id);
    this.#bytes -= entry.bytes;
    for (const item of entry.itemIds) {
      if (this.#items.get(item) === id) this.#items.delete(item);
    }
    return true;
  }

  /** The entry, moved to most recently used; an expired one is removed instead. */
  #live(id: string): Entry | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.delete(id);
      return undefined;
    }
    this.#entries.delete(id);
    this.#entries.set(id, entry);
    return entry;
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function itemIdsOf(items: unknown): string[] {
  if (!Array.isArray(items)) return [];
  return items.filter(isObject).map((i) => i.id).filter((id): id is string =>
    typeof id === "string" && id !== ""
  );
}
