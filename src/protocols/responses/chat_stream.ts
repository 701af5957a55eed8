/**
 * A streamed Chat Completions answer (`chat.completion.chunk` events, then `[DONE]`) as the
 * OpenAI Responses event sequence, one upstream event at a time:
 *
 *   response.created, response.in_progress                      (first upstream event)
 *   output_item.added, content_part.added, output_text.delta…   (text)
 *   output_item.added, reasoning_summary_part.added, content_part.added,
 *     reasoning_summary_text.delta + reasoning_text.delta…      (reasoning_content / reasoning)
 *   output_item.added, function_call_arguments.delta…           (each tool call)
 *   …the matching .done events when the finish_reason arrives…
 *   response.completed | response.incomplete                    (once usage or [DONE] is in)
 *
 * Every event carries `type` (also its SSE `event:` name) and an increasing `sequence_number`.
 * Chat sends usage (stream_options.include_usage) in a chunk after the finish_reason, so the
 * closing event waits for that chunk or for `[DONE]`, whichever comes first.
 */
import type { SseEvent, StreamTranslator, TranslationContext } from "../translation.ts";
import { isRecord, type JsonObject, records, stringOf } from "../narrow.ts";
import { type NamespacedName, requestFacts } from "./request_facts.ts";
import {
  chatReasoning,
  chatSignature,
  customToolCallItem,
  customToolInput,
  fallbackCallId,
  functionCallItem,
  itemId,
  messageItem,
  outputTextPart,
  reasoningItem,
  reasoningTextPart,
  responseObject,
  type ResponseStatus,
  responsesUsage,
  statusFor,
  summaryTextPart,
} from "./response_object.ts";
import { partialCustomToolInput } from "./partial_input.ts";

/** The text or reasoning item being written. */
interface OpenPart {
  kind: "message" | "reasoning";
  index: number;
  id: string;
  text: string;
  /** an Anthropic thinking signature that came with the reasoning (see chatSignature) */
  signature: string;
}

/** A tool call being written, keyed by its chat `index`. */
interface OpenTool {
  index: number;
  id: string;
  callId: string;
  name: string;
  custom: boolean;
  args: string;
  /** for a custom tool: the input text already sent as deltas */
  sent: string;
  done: boolean;
}

/** A translator from one Chat Completions stream to the Responses events of one response. */
export function chatStreamToResponses(ctx: TranslationContext): StreamTranslator {
  return new ChatToResponses(ctx);
}

class ChatToResponses implements StreamTranslator {
  readonly #ctx: TranslationContext;
  readonly #custom: ReadonlySet<string>;
  readonly #namespaced: ReadonlyMap<string, NamespacedName>;
  #seq = 0;
  #started = false;
  /** a terminal response event (completed / incomplete / failed) went out */
  #closed = false;
  #failed = false;
  #done = false;
  readonly #output: JsonObject[] = [];
  #open: OpenPart | undefined;
  readonly #tools = new Map<number, OpenTool>();
  #finishReason: string | undefined;
  #usage: JsonObject | undefined;

  constructor(ctx: TranslationContext) {
    this.#ctx = ctx;
    this.#custom = requestFacts(ctx).customTools;
    this.#namespaced = requestFacts(ctx).namespaced;
  }

  get finished(): boolean {
    return this.#done;
  }

  push(event: SseEvent): SseEvent[] {
    const data = event.data.trim();
    if (data === "[DONE]") {
      this.#done = true;
      if (this.#closed) return [];
      return [...this.#start(), ...this.#closeItems(), ...this.#complete()];
    }
    if (this.#closed) return [];
    let chunk: unknown;
    try {
      chunk = JSON.parse(data);
    } catch {
      // Not JSON (a keep-alive or stray line some servers send): nothing to translate.
      return [];
    }
    if (!isRecord(chunk)) return [];
    const out = this.#start();
    if (chunk.error !== undefined && chunk.error !== null) {
      const error = isRecord(chunk.error) ? chunk.error : { message: chunk.error };
      out.push(...this.#failWith(
        stringOf(error.message) ?? "the upstream stream reported an error",
        stringOf(error.code) ?? "server_error",
      ));
      return out;
    }
    const usage = responsesUsage(chunk.usage);
    if (usage) this.#usage = usage;
    // One response per stream: only the first choice is translated (requests never set n).
    const choice = records(chunk.choices).find((c) => (c.index ?? 0) === 0);
    if (choice) {
      const delta = isRecord(choice.delta) ? choice.delta : {};
      const reasoning = chatReasoning(delta);
      if (reasoning !== "") out.push(...this.#partDelta("reasoning", reasoning));
      const signature = chatSignature(delta);
      if (signature !== "" && this.#open?.kind === "reasoning") this.#open.signature += signature;
      if (typeof delta.content === "string" && delta.content !== "") {
        out.push(...this.#partDelta("message", delta.content));
      }
      for (const call of records(delta.tool_calls)) out.push(...this.#toolDelta(call));
      if (typeof choice.finish_reason === "string" && choice.finish_reason !== "") {
        this.#finishReason = choice.finish_reason;
        out.push(...this.#closeItems());
      }
    }
    if (this.#finishReason !== undefined && this.#usage !== undefined) {
      out.push(...this.#complete());
    }
    return out;
  }

  end(): SseEvent[] {
    // Everything owed went out at [DONE]; without it the caller sends fail() instead.
    return [];
  }

  fail(message: string): SseEvent[] {
    return this.#failWith(message, "server_error");
  }

  #event(type: string, fields: JsonObject): SseEvent {
    return {
      event: type,
      data: JSON.stringify({ type, sequence_number: this.#seq++, ...fields }),
    };
  }

  #start(): SseEvent[] {
    if (this.#started) return [];
    this.#started = true;
    const response = responseObject(this.#ctx, { status: "in_progress", output: [] });
    return [
      this.#event("response.created", { response }),
      this.#event("response.in_progress", { response }),
    ];
  }

  #partDelta(kind: OpenPart["kind"], text: string): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.#open?.kind !== kind) {
      out.push(...this.#closeOpen("completed"));
      const index = this.#output.length;
      const id = itemId(kind === "message" ? "msg" : "rs", this.#ctx, index);
      const item = kind === "message"
        ? messageItem(id, [], "in_progress")
        : reasoningItem(id, undefined, "in_progress");
      this.#output.push(item);
      this.#open = { kind, index, id, text: "", signature: "" };
      out.push(this.#event("response.output_item.added", { output_index: index, item }));
      if (kind === "reasoning") {
        // The summary first: it is what @ai-sdk/openai and Codex show.
        out.push(this.#event("response.reasoning_summary_part.added", {
          item_id: id,
          output_index: index,
          summary_index: 0,
          part: summaryTextPart(""),
        }));
      }
      out.push(this.#event("response.content_part.added", {
        item_id: id,
        output_index: index,
        content_index: 0,
        part: kind === "message" ? outputTextPart("") : reasoningTextPart(""),
      }));
    }
    const open = this.#open!;
    open.text += text;
    const where = { item_id: open.id, output_index: open.index, content_index: 0 };
    if (kind === "message") {
      out.push(this.#event("response.output_text.delta", { ...where, delta: text, logprobs: [] }));
      return out;
    }
    out.push(
      this.#event("response.reasoning_summary_text.delta", {
        item_id: open.id,
        output_index: open.index,
        summary_index: 0,
        delta: text,
      }),
      this.#event("response.reasoning_text.delta", { ...where, delta: text }),
    );
    return out;
  }

  #closeOpen(status: ResponseStatus): SseEvent[] {
    const open = this.#open;
    if (!open) return [];
    this.#open = undefined;
    const where = { item_id: open.id, output_index: open.index, content_index: 0 };
    if (open.kind === "message") {
      const part = outputTextPart(open.text);
      const item = messageItem(open.id, [part], status);
      this.#output[open.index] = item;
      return [
        this.#event("response.output_text.done", { ...where, text: open.text, logprobs: [] }),
        this.#event("response.content_part.done", { ...where, part }),
        this.#event("response.output_item.done", { output_index: open.index, item }),
      ];
    }
    const item = reasoningItem(open.id, open.text, status, open.signature);
    this.#output[open.index] = item;
    const summary = { item_id: open.id, output_index: open.index, summary_index: 0 };
    return [
      this.#event("response.reasoning_summary_text.done", { ...summary, text: open.text }),
      this.#event("response.reasoning_summary_part.done", {
        ...summary,
        part: summaryTextPart(open.text),
      }),
      this.#event("response.reasoning_text.done", { ...where, text: open.text }),
      this.#event("response.content_part.done", { ...where, part: reasoningTextPart(open.text) }),
      this.#event("response.output_item.done", { output_index: open.index, item }),
    ];
  }

  #toolDelta(call: JsonObject): SseEvent[] {
    const out: SseEvent[] = [];
    const key = typeof call.index === "number" ? call.index : this.#tools.size;
    const fn = isRecord(call.function) ? call.function : {};
    let tool = this.#tools.get(key);
    if (!tool) {
      // Chat servers send tool calls one after another; closing the previous ones here gives the
      // client each call's output_item.done as soon as it is whole, as the Responses API does.
      out.push(...this.#closeOpen("completed"));
      for (const t of this.#tools.values()) {
        if (!t.done) out.push(...this.#closeTool(t, "completed"));
      }
      const index = this.#output.length;
      const name = stringOf(fn.name) ?? "";
      const custom = this.#custom.has(name);
      tool = {
        index,
        id: itemId(custom ? "ctc" : "fc", this.#ctx, index),
        callId: stringOf(call.id) || fallbackCallId(this.#ctx, index),
        name,
        custom,
        args: "",
        sent: "",
        done: false,
      };
      this.#tools.set(key, tool);
      const item = this.#toolItem(tool, "in_progress");
      this.#output.push(item);
      out.push(this.#event("response.output_item.added", { output_index: index, item }));
    }
    const args = stringOf(fn.arguments) ?? "";
    if (args === "" || tool.done) return out;
    tool.args += args;
    const where = { item_id: tool.id, output_index: tool.index };
    if (!tool.custom) {
      out.push(this.#event("response.function_call_arguments.delta", { ...where, delta: args }));
      return out;
    }
    // A custom tool's client wants the raw input, which arrives JSON-encoded as {"input": "..."}:
    // send each newly decodable stretch of it as it comes.
    const input = partialCustomToolInput(tool.args);
    if (input !== undefined && input.length > tool.sent.length) {
      out.push(this.#event("response.custom_tool_call_input.delta", {
        ...where,
        delta: input.slice(tool.sent.length),
      }));
      tool.sent = input;
    }
    return out;
  }

  #toolItem(tool: OpenTool, status: ResponseStatus): JsonObject {
    const call = { callId: tool.callId, name: tool.name };
    return tool.custom
      ? customToolCallItem(tool.id, {
        ...call,
        input: status === "in_progress" ? "" : customToolInput(tool.args),
      }, status)
      : functionCallItem(
        tool.id,
        { ...call, arguments: status === "in_progress" ? "" : tool.args },
        status,
        this.#namespaced,
      );
  }

  #closeTool(tool: OpenTool, status: ResponseStatus): SseEvent[] {
    tool.done = true;
    const where = { item_id: tool.id, output_index: tool.index };
    const out: SseEvent[] = [];
    if (tool.custom) {
      const input = customToolInput(tool.args);
      // The arguments were not {"input": "..."} as offered: the raw text, sent once in full.
      if (input.startsWith(tool.sent) && input.length > tool.sent.length) {
        out.push(this.#event("response.custom_tool_call_input.delta", {
          ...where,
          delta: input.slice(tool.sent.length),
        }));
      }
      out.push(this.#event("response.custom_tool_call_input.done", { ...where, input }));
    } else {
      out.push(
        this.#event("response.function_call_arguments.done", { ...where, arguments: tool.args }),
      );
    }
    const item = this.#toolItem(tool, status);
    this.#output[tool.index] = item;
    out.push(this.#event("response.output_item.done", { output_index: tool.index, item }));
    return out;
  }

  /** Closes every open item; on a cut-off answer the last one is the incomplete one. */
  #closeItems(): SseEvent[] {
    const { status } = statusFor(this.#finishReason);
    const last = this.#output.length - 1;
    const statusOf = (index: number): ResponseStatus =>
      status === "incomplete" && index === last ? "incomplete" : "completed";
    const out = this.#open ? this.#closeOpen(statusOf(this.#open.index)) : [];
    const open = [...this.#tools.values()].filter((t) => !t.done).sort((a, b) => a.index - b.index);
    for (const tool of open) out.push(...this.#closeTool(tool, statusOf(tool.index)));
    return out;
  }

  #complete(): SseEvent[] {
    this.#closed = true;
    const { status, reason } = statusFor(this.#finishReason);
    const response = responseObject(this.#ctx, {
      status,
      output: this.#output,
      usage: this.#usage,
      incompleteReason: reason,
    });
    const type = status === "incomplete" ? "response.incomplete" : "response.completed";
    this.#ctx.onResponse?.(response);
    return [this.#event(type, { response })];
  }

  /**
   * `response.failed` is what Codex reads as a failed turn; the `error` event after it is what
   * makes the openai SDK's stream raise (it throws on an SSE event named `error`).
   */
  #failWith(message: string, code: string): SseEvent[] {
    if (this.#failed) return [];
    this.#failed = true;
    const out: SseEvent[] = [];
    if (!this.#closed) {
      this.#closed = true;
      const response = responseObject(this.#ctx, {
        status: "failed",
        output: this.#output,
        usage: this.#usage,
        error: { code, message },
      });
      out.push(this.#event("response.failed", { response }));
    }
    out.push(this.#event("error", { code, message, param: null }));
    return out;
  }
}
