/**
 * Gemini's schemas (`responseSchema`, a function's `parameters`) are OpenAPI 3.0 subsets whose
 * `type` is often upper case (`OBJECT`, `STRING`, as @google/genai's `Type` enum writes it) and
 * which say `nullable: true` where JSON Schema says `type: [t, "null"]`. Chat servers take JSON
 * Schema; Gemini takes its own form (and, since 2025, JSON Schema as `parametersJsonSchema` /
 * `responseJsonSchema`).
 */
import { isRecord, type JsonObject } from "../narrow.ts";

/** Keys of Gemini's schema form that JSON Schema has no use for. */
const GEMINI_ONLY = new Set(["nullable", "propertyOrdering"]);

/** A Gemini (OpenAPI) schema as JSON Schema: lower-case types, `nullable` as a `null` type. */
export function jsonSchemaOf(schema: unknown, depth = 0): unknown {
  if (depth > 64) return {};
  if (Array.isArray(schema)) return schema.map((s) => jsonSchemaOf(s, depth + 1));
  if (!isRecord(schema)) return schema;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (GEMINI_ONLY.has(key)) continue;
    if (key === "type" && typeof value === "string") {
      const type = value.toLowerCase();
      out.type = schema.nullable === true && type !== "null" ? [type, "null"] : type;
    } else if (key === "properties" && isRecord(value)) {
      const props: JsonObject = {};
      for (const [name, sub] of Object.entries(value)) props[name] = jsonSchemaOf(sub, depth + 1);
      out.properties = props;
    } else if (key === "items" || key === "anyOf" || key === "oneOf" || key === "allOf") {
      out[key] = jsonSchemaOf(value, depth + 1);
    } else out[key] = value;
  }
  return out;
}
