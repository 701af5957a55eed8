import { isRecord, type JsonObject, numberOf, stringOf } from "../narrow.ts";

interface Pending {
  id: string;
  name: string;
  args: string;
}

/**
 * The tool calls of a chat stream, gathered from their pieces for protocols that carry a call
 * whole (Ollama's, Gemini's): a new index (or a new id at the same index) starts a call, the rest
 * add to its name and arguments.
 */
export class ToolCallPieces {
  readonly #calls: Pending[] = [];

  /** Adds one `delta.tool_calls[]` piece. */
  add(call: JsonObject): void {
    const index = numberOf(call.index) ?? 0;
    const id = stringOf(call.id);
    const fn = isRecord(call.function) ? call.function : {};
    let pending = this.#calls[index];
    if (pending === undefined || (id && pending.id && id !== pending.id)) {
      pending = { id: id ?? "", name: "", args: "" };
      if (this.#calls[index] === undefined) this.#calls[index] = pending;
      else this.#calls.push(pending);
    }
    pending.name += stringOf(fn.name) ?? "";
    pending.args += stringOf(fn.arguments) ?? "";
  }

  /** The calls gathered so far, in order, each as a chat tool call `{id, function}`. */
  whole(): JsonObject[] {
    return this.#calls.filter((c) => c !== undefined).map((c) => ({
      id: c.id,
      function: { name: c.name, arguments: c.args },
    }));
  }
}
