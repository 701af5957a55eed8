/** Narrowing helpers for JSON read off the wire, where every field is `unknown` until checked. */

/** A JSON object read off the wire. */
export type JsonObject = Record<string, unknown>;

/** Whether v is a plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** v when it is a string, else undefined. */
export function stringOr(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** v when it is a finite number, else undefined. */
export function numberOr(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** v's elements that are JSON objects; [] when v is not an array. */
export function objectsIn(v: unknown): JsonObject[] {
  return Array.isArray(v) ? v.filter(isObject) : [];
}

/** The object without its undefined-valued keys, so JSON and deep-equality agree. */
export function compact<T extends JsonObject>(o: T): T {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}
