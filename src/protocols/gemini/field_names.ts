/**
 * Gemini requests in the field names the translations read. Google's API takes each field in
 * its proto name (`system_instruction`, what Google's own curl examples send) as well as in
 * lowerCamelCase (`systemInstruction`, what the libraries send); read only as camelCase, a
 * snake_case system instruction, generation config or inline image would be dropped without a
 * word (SPEC §6: nothing lost). Only the fields of Google's request messages are renamed — never
 * the keys of what a client owns (function arguments and results, JSON schemas, their
 * `properties`), so a parameter named `max_tokens` stays `max_tokens`.
 */
import { isRecord, type JsonObject } from "../narrow.ts";

/** How each message's fields nest: for a (camelCase) field, the kind of message it holds. */
const NESTED: Record<string, Record<string, string>> = {
  request: {
    contents: "content",
    systemInstruction: "content",
    generationConfig: "generation_config",
    tools: "tool",
    toolConfig: "tool_config",
  },
  content: { parts: "part" },
  part: { inlineData: "blob", fileData: "blob", functionCall: "leaf", functionResponse: "leaf" },
  generation_config: { thinkingConfig: "leaf" },
  tool: { functionDeclarations: "function_declaration" },
  function_declaration: {},
  tool_config: { functionCallingConfig: "leaf" },
  blob: {},
  leaf: {},
};

/** Fields whose values are the client's own data (schemas, arguments): renamed, never entered. */
const OPAQUE = new Set([
  "args",
  "response",
  "parameters",
  "parametersJsonSchema",
  "responseSchema",
  "responseJsonSchema",
  "_responseJsonSchema",
]);

/** `system_instruction` → `systemInstruction`. */
function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The request with every snake_case field of Google's messages renamed to its camelCase. */
export function camelCaseRequest(body: JsonObject): JsonObject {
  return renamedObject(body, "request");
}

/**
 * A field's value renamed as a `kind` message, or a list of them. Only the kinds above are
 * entered, and none holds itself, so however deep a client nests its JSON this stays shallow.
 */
function renamed(value: unknown, kind: string): unknown {
  if (Array.isArray(value)) return value.map((v) => isRecord(v) ? renamedObject(v, kind) : v);
  return isRecord(value) ? renamedObject(value, kind) : value;
}

function renamedObject(value: JsonObject, kind: string): JsonObject {
  const out: JsonObject = {};
  for (const [key, v] of Object.entries(value)) {
    const name = key.includes("_") && !key.startsWith("_") ? camel(key) : key;
    // A field sent both ways keeps the camelCase one, as the libraries send it.
    if (name !== key && name in value) continue;
    const inner = NESTED[kind]?.[name];
    out[name] = OPAQUE.has(name) || inner === undefined ? v : renamed(v, inner);
  }
  return out;
}
