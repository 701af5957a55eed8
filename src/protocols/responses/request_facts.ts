/**
 * What the answer to a Responses request needs from the request itself: which tools were
 * freeform `custom` tools (their calls go back as `custom_tool_call`, not `function_call`) and the
 * request fields a Responses object echoes (`tools`, `instructions`, `temperature`, …).
 *
 * The Translation contract hands request() and response()/stream() the same TranslationContext
 * object for one request, so the facts are kept per ctx in a WeakMap: nothing outlives the request,
 * and the contract's interfaces stay as they are.
 */
import type { TranslationContext } from "../translation.ts";
import type { JsonObject } from "../narrow.ts";

/** A tool of a Codex `namespace` tool: the namespace's name and the tool's own. */
export interface NamespacedName {
  namespace: string;
  name: string;
}

/** Facts about one Responses request, noted while translating it. */
export interface ResponsesRequestFacts {
  /** names of the `custom` tools offered, which the upstream saw as one-string-parameter functions */
  customTools: ReadonlySet<string>;
  /** the flat chat names of namespace tools (`multi_agent_v1__spawn_agent`), and what they were */
  namespaced: ReadonlyMap<string, NamespacedName>;
  /** the request fields a Responses object echoes, already defaulted as the API does */
  echo: JsonObject;
}

const NONE: ResponsesRequestFacts = { customTools: new Set(), namespaced: new Map(), echo: {} };
const byContext = new WeakMap<TranslationContext, ResponsesRequestFacts>();

/** Notes the facts of the request translated under ctx. */
export function noteRequestFacts(ctx: TranslationContext, facts: ResponsesRequestFacts): void {
  byContext.set(ctx, facts);
}

/** The facts noted for ctx; none (no custom tools, nothing to echo) when request() was not seen. */
export function requestFacts(ctx: TranslationContext): ResponsesRequestFacts {
  return byContext.get(ctx) ?? NONE;
}
