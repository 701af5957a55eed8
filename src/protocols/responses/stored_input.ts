/**
 * A Responses request's references into stored state, resolved before it is translated or sent:
 * `previous_response_id` becomes the stored conversation (its input, then its output) in front of
 * the request's own input, and each `{"type":"item_reference","id":…}` the item it names. The
 * request then carries the whole conversation, which any upstream can answer.
 *
 * An id BitRouter does not hold is another server's when a Responses provider may serve the
 * request (it is passed on, for that provider to resolve); else it is unknown, and the client
 * gets OpenAI's 404 naming it — never a silent drop.
 */
import type { ResponseStore } from "./store.ts";

/** The request with its references resolved, or the id that could not be. */
export type Resolved =
  | { body: Record<string, unknown>; input: unknown[]; changed: boolean }
  | { missing: { kind: "response" | "item"; id: string } };

/**
 * Resolves body's references against store. passThrough: some candidate speaks Responses, so an
 * unknown id is left for it.
 */
export function resolveStoredInput(
  body: Record<string, unknown>,
  store: ResponseStore,
  passThrough: boolean,
): Resolved {
  let changed = false;
  // Kept as the API lists input items: each a typed item (`{role, content}` is a message).
  const own = typeof body.input === "string"
    ? [{ type: "message", role: "user", content: body.input }]
    : Array.isArray(body.input)
    ? body.input.map(typed)
    : [];
  const input: unknown[] = [];
  const out = { ...body };
  const previous = body.previous_response_id;
  if (typeof previous === "string" && previous !== "") {
    const stored = store.get(previous);
    if (stored) {
      const output = Array.isArray(stored.response.output) ? stored.response.output : [];
      input.push(...stored.input, ...output);
      delete out.previous_response_id;
      changed = true;
    } else if (!passThrough) {
      return { missing: { kind: "response", id: previous } };
    }
  }
  for (const item of own) {
    const id = referenceId(item);
    if (id === undefined) {
      input.push(item);
      continue;
    }
    const stored = store.item(id);
    if (stored) {
      input.push(stored);
      changed = true;
    } else if (passThrough) {
      input.push(item);
    } else {
      return { missing: { kind: "item", id } };
    }
  }
  if (changed) out.input = input;
  return { body: out, input: changed ? input : own, changed };
}

/** An input item with its `type`: a bare `{role, content}` is a message. */
function typed(item: unknown): unknown {
  if (typeof item !== "object" || item === null || Array.isArray(item)) return item;
  const i = item as Record<string, unknown>;
  return i.type === undefined && i.role !== undefined ? { type: "message", ...i } : item;
}

/** The id an item_reference names; undefined for any other item. */
function referenceId(item: unknown): string | undefined {
  if (typeof item !== "object" || item === null) return undefined;
  const i = item as Record<string, unknown>;
  return i.type === "item_reference" && typeof i.id === "string" ? i.id : undefined;
}
