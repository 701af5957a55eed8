/**
 * An OpenAI Responses request (`POST /v1/responses`, what Codex sends) as a Chat Completions
 * request, for upstreams that only speak Chat Completions (Ollama, vLLM, LM Studio, llama.cpp).
 *
 * Decisions where the two APIs differ (SPEC §6 is silent on them):
 * - Nothing is stored upstream: BitRouter keeps responses itself (responses/store.ts) and has
 *   already replaced `previous_response_id` and `item_reference` items by what they name, so one
 *   still here is refused with a 400, as are `conversation`, `prompt` (a stored prompt) and
 *   `background`.
 * - `developer` messages become `system` messages: local chat templates know only system. The
 *   upstream gets one system message, first (instructions and Codex's developer messages joined,
 *   later ones as the provider's `system_messages` says: see chat/system_messages.ts).
 * - `reasoning` input items are dropped: Chat Completions has no place for them and local servers
 *   re-derive reasoning anyway. Unknown item types are dropped too, never a 400.
 * - `custom` (freeform) tools, as Codex uses for `apply_patch`, are offered as a function with one
 *   string parameter `input` (the grammar, if any, in its description); their calls come back as
 *   `custom_tool_call` items. Hosted tools (web_search, file_search, local_shell, mcp, …) cannot
 *   run on a Chat Completions upstream and are dropped, with any tool_choice naming them.
 * - `reasoning.effort` becomes Chat Completions' `reasoning_effort` (OpenAI, vLLM and Ollama read
 *   it; others ignore it); `reasoning.summary` has no counterpart and is dropped.
 * - Same-named Chat Completions fields pass: temperature, top_p, user, safety_identifier,
 *   prompt_cache_key, service_tier. Dropped: include, metadata, store: false, truncation,
 *   text.verbosity, top_logprobs, max_tool_calls, stream_options, client_metadata and anything
 *   unknown.
 */
import { TranslationContext, TranslationError } from "../translation.ts";
import { compact, isRecord, type JsonObject, numberOf, records, stringOf } from "../narrow.ts";
import { type NamespacedName, noteRequestFacts } from "./request_facts.ts";
import { flatToolName } from "./namespace_tools.ts";
import { oneSystemMessage } from "../chat/system_messages.ts";

/** Name of the one string parameter a freeform `custom` tool is offered with. */
export const CUSTOM_TOOL_INPUT = "input";

/** How to call a freeform tool offered as a function. */
const CUSTOM_TOOL_CALL_HINT =
  `Call this tool with a JSON object whose only field \`${CUSTOM_TOOL_INPUT}\` is the raw text input.`;

/** Chat Completions fields with the same name and meaning in the Responses API. */
const SAME_NAMED = [
  "temperature",
  "top_p",
  "user",
  "safety_identifier",
  "prompt_cache_key",
  "service_tier",
];

/** The Chat Completions request for a Responses request body. Throws TranslationError. */
export function responsesRequestToChat(body: JsonObject, ctx: TranslationContext): JsonObject {
  refuseStoredState(body);
  const customTools = new Set<string>();
  const namespaced = new Map<string, NamespacedName>();
  const tools = chatTools(body.tools, customTools, namespaced);
  const allowed = allowedToolNames(body.tool_choice);
  const offered = allowed ? tools.filter((t) => allowed.has(toolName(t))) : tools;
  const chat: JsonObject = {
    model: ctx.upstreamModel,
    messages: oneSystemMessage(chatMessages(body, namespaced), ctx.systemMessages),
  };
  for (const key of SAME_NAMED) if (body[key] !== undefined) chat[key] = body[key];
  const maxTokens = numberOf(body.max_output_tokens);
  if (maxTokens !== undefined) chat.max_tokens = maxTokens;
  if (offered.length > 0) {
    chat.tools = offered;
    const choice = chatToolChoice(body.tool_choice, new Set(offered.map(toolName)));
    if (choice !== undefined) chat.tool_choice = choice;
    if (typeof body.parallel_tool_calls === "boolean") {
      chat.parallel_tool_calls = body.parallel_tool_calls;
    }
  }
  const format = isRecord(body.text) ? chatResponseFormat(body.text.format) : undefined;
  if (format) chat.response_format = format;
  const effort = isRecord(body.reasoning) ? stringOf(body.reasoning.effort) : undefined;
  if (effort) chat.reasoning_effort = effort;
  if (body.stream === true) {
    chat.stream = true;
    // Without it a Chat Completions stream carries no usage, and response.completed needs it.
    chat.stream_options = { include_usage: true };
  }
  noteRequestFacts(ctx, { customTools, namespaced, echo: echoedFields(body) });
  return chat;
}

function refuseStoredState(body: JsonObject): void {
  const noStore =
    "this provider speaks Chat Completions and keeps no stored responses; send the whole conversation in `input`";
  if (body.previous_response_id !== undefined && body.previous_response_id !== null) {
    // BitRouter resolves the ids it stored before translating; one still here is another
    // server's, which only a Responses provider can continue.
    throw new TranslationError(
      `previous_response_id ${
        JSON.stringify(String(body.previous_response_id).slice(0, 100))
      } is not a response BitRouter stored, and ${noStore}`,
      "previous_response_id",
    );
  }
  if (body.conversation !== undefined && body.conversation !== null) {
    throw new TranslationError(`conversation is not supported: ${noStore}`, "conversation");
  }
  if (body.prompt !== undefined && body.prompt !== null) {
    throw new TranslationError(
      "prompt (a stored prompt template) is not supported by this provider; send its text in `instructions`",
      "prompt",
    );
  }
  if (body.background === true) {
    throw new TranslationError(
      "background responses are not supported by this provider; send the request without `background`",
      "background",
    );
  }
}

/** The request fields a Responses object echoes, defaulted as the Responses API does. */
function echoedFields(body: JsonObject): JsonObject {
  const reasoning = isRecord(body.reasoning) ? body.reasoning : {};
  const text = isRecord(body.text) ? body.text : {};
  return {
    instructions: typeof body.instructions === "string" ? body.instructions : null,
    max_output_tokens: numberOf(body.max_output_tokens) ?? null,
    metadata: isRecord(body.metadata) ? body.metadata : {},
    parallel_tool_calls: typeof body.parallel_tool_calls === "boolean"
      ? body.parallel_tool_calls
      : true,
    previous_response_id: null,
    prompt_cache_key: stringOf(body.prompt_cache_key) ?? null,
    reasoning: {
      effort: stringOf(reasoning.effort) ?? null,
      summary: stringOf(reasoning.summary) ?? null,
    },
    store: body.store !== false,
    temperature: numberOf(body.temperature) ?? null,
    text: compact({
      format: isRecord(text.format) ? text.format : { type: "text" },
      verbosity: stringOf(text.verbosity),
    }),
    tool_choice: body.tool_choice ?? "auto",
    tools: Array.isArray(body.tools) ? body.tools : [],
    top_p: numberOf(body.top_p) ?? null,
    truncation: stringOf(body.truncation) ?? "disabled",
  };
}

// ---------------------------------------------------------------------------------------------
// messages

/** One chat message being built; tool calls gather on the assistant turn they belong to. */
type ChatMessage = JsonObject & { role: string };

function chatMessages(
  body: JsonObject,
  namespaced: Map<string, NamespacedName>,
): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (typeof body.instructions === "string" && body.instructions !== "") {
    out.push({ role: "system", content: body.instructions });
  }
  if (typeof body.input === "string") {
    out.push({ role: "user", content: body.input });
    return out;
  }
  // Images a tool returned: a `tool` message holds text only, so they follow the tool results in
  // a user message (before the next turn), which is where a vision model can see them.
  let toolImages: JsonObject[] = [];
  const flushToolImages = () => {
    if (toolImages.length === 0) return;
    out.push({ role: "user", content: toolImages });
    toolImages = [];
  };
  // A signed reasoning item (an Anthropic thinking block's signature in encrypted_content) goes
  // back with the assistant turn after it, as Chat Completions via Messages reads it.
  let signed: JsonObject | undefined;
  const withReasoning = (message: ChatMessage) => {
    if (signed && message.role === "assistant") {
      Object.assign(message, signed);
      signed = undefined;
    }
    return message;
  };
  for (const item of records(body.input)) {
    const type = item.type ?? (item.role !== undefined ? "message" : undefined);
    switch (type) {
      case "message": {
        flushToolImages();
        const message = chatMessage(item);
        if (message) out.push(withReasoning(message));
        break;
      }
      case "function_call":
      case "custom_tool_call": {
        flushToolImages();
        const namespace = stringOf(item.namespace);
        const name = namespace ? flatToolName(namespace, stringOf(item.name) ?? "") : undefined;
        if (namespace && name) namespaced.set(name, { namespace, name: stringOf(item.name) ?? "" });
        withReasoning(addToolCall(out, chatToolCall(item, type === "custom_tool_call", name)));
        break;
      }
      case "reasoning": {
        signed = signedReasoning(item) ?? signed;
        break;
      }
      case "function_call_output":
      case "custom_tool_call_output": {
        const { text, images } = toolOutput(item.output);
        out.push({ role: "tool", tool_call_id: String(item.call_id ?? ""), content: text });
        toolImages.push(...images);
        break;
      }
      default:
        // item_reference (BitRouter's own were resolved before; another server's cannot be),
        // hosted tool calls and unknown types: dropped, never a 400.
        break;
    }
  }
  flushToolImages();
  return out;
}

function chatMessage(item: JsonObject): ChatMessage | undefined {
  const role = item.role === "developer" ? "system" : stringOf(item.role);
  if (role !== "user" && role !== "assistant" && role !== "system") return undefined;
  if (typeof item.content === "string") return { role, content: item.content };
  const parts = records(item.content);
  if (role === "assistant") {
    // An assistant turn is text (and maybe a refusal); local servers want it as one string.
    const text = parts.filter((p) => p.type === "output_text" || p.type === "input_text")
      .map((p) => stringOf(p.text) ?? "").join("");
    const refusal = parts.filter((p) => p.type === "refusal").map((p) => stringOf(p.refusal) ?? "")
      .join("");
    return compact({ role, content: text, refusal: refusal || undefined });
  }
  const content = parts.map(chatContentPart).filter((p): p is JsonObject => p !== undefined);
  if (content.length === 1 && content[0].type === "text") {
    return { role, content: content[0].text };
  }
  return { role, content };
}

function chatContentPart(part: JsonObject): JsonObject | undefined {
  switch (part.type) {
    case "input_text":
    case "output_text":
      return { type: "text", text: stringOf(part.text) ?? "" };
    case "input_image": {
      const url = stringOf(part.image_url);
      if (url === undefined) {
        throw new TranslationError(
          "input_image by file_id is not supported by this provider (it has no file store); send image_url as a URL or a data: URL",
          "input",
        );
      }
      const detail = stringOf(part.detail);
      return { type: "image_url", image_url: compact({ url, detail }) };
    }
    case "input_file": {
      const fileData = stringOf(part.file_data);
      if (fileData === undefined) {
        throw new TranslationError(
          "input_file by file_id or file_url is not supported by this provider; send file_data",
          "input",
        );
      }
      return {
        type: "file",
        file: compact({ filename: stringOf(part.filename), file_data: fileData }),
      };
    }
    default:
      return undefined;
  }
}

/**
 * The pivot fields of a reasoning item that carries a signature: reasoning text and OpenRouter's
 * `reasoning_details`. A reasoning item without one is dropped: chat servers take none back.
 */
function signedReasoning(item: JsonObject): JsonObject | undefined {
  const signature = stringOf(item.encrypted_content);
  if (!signature) return undefined;
  const parts = [...records(item.content), ...records(item.summary)];
  const text = parts.map((p) => stringOf(p.text) ?? "").find((t) => t !== "") ?? "";
  return {
    reasoning_content: text,
    reasoning_details: [{ type: "reasoning.text", text, signature, format: "anthropic-claude-v1" }],
  };
}

function chatToolCall(item: JsonObject, custom: boolean, flatName?: string): JsonObject {
  // A custom tool's call goes back as the function it was offered as: {"input": "<raw text>"}.
  const args = custom
    ? JSON.stringify({ [CUSTOM_TOOL_INPUT]: stringOf(item.input) ?? "" })
    : stringOf(item.arguments) ?? "{}";
  return {
    id: String(item.call_id ?? ""),
    type: "function",
    function: { name: flatName ?? stringOf(item.name) ?? "", arguments: args },
  };
}

/**
 * Adds a tool call to the assistant turn just before it, or starts one: one turn per batch.
 * Returns that turn.
 */
function addToolCall(out: ChatMessage[], call: JsonObject): ChatMessage {
  const last = out.at(-1);
  if (last?.role === "assistant") {
    const calls = Array.isArray(last.tool_calls) ? last.tool_calls : [];
    last.tool_calls = [...calls, call];
    // Chat Completions wants null, not "", for an assistant turn that only calls tools.
    if (last.content === "") last.content = null;
    return last;
  }
  const turn: ChatMessage = { role: "assistant", content: null, tool_calls: [call] };
  out.push(turn);
  return turn;
}

function toolOutput(output: unknown): { text: string; images: JsonObject[] } {
  if (typeof output === "string") return { text: output, images: [] };
  const parts = records(output);
  const text = parts.filter((p) => p.type === "input_text" || p.type === "output_text")
    .map((p) => stringOf(p.text) ?? "").join("\n");
  const images = parts.filter((p) => p.type === "input_image")
    .map(chatContentPart).filter((p): p is JsonObject => p !== undefined);
  return { text, images };
}

// ---------------------------------------------------------------------------------------------
// tools

function chatTools(
  tools: unknown,
  customTools: Set<string>,
  namespaced: Map<string, NamespacedName>,
): JsonObject[] {
  const out: JsonObject[] = [];
  for (const tool of records(tools)) {
    const name = stringOf(tool.name);
    if (name === undefined) continue;
    if (tool.type === "function") {
      out.push(chatFunction(tool, name));
    } else if (tool.type === "namespace") {
      // Codex's sub-agent tools (multi_agent_v1: spawn_agent, send_input, …): each inner function
      // is offered as `namespace__tool`, and its calls go back with `namespace` and `name` apart.
      for (const inner of records(tool.tools)) {
        const innerName = stringOf(inner.name);
        if (innerName === undefined || (inner.type ?? "function") !== "function") continue;
        const flat = flatToolName(name, innerName);
        namespaced.set(flat, { namespace: name, name: innerName });
        const description = [stringOf(tool.description), stringOf(inner.description)]
          .filter(Boolean).join("\n\n");
        out.push(chatFunction({ ...inner, description: description || undefined }, flat));
      }
    } else if (tool.type === "custom") {
      customTools.add(name);
      out.push({
        type: "function",
        function: compact({
          name,
          // Codex's description says not to wrap the input in JSON, which is right for a freeform
          // tool and wrong for this function: say how to call it here.
          description: [stringOf(tool.description), CUSTOM_TOOL_CALL_HINT].filter(Boolean).join(
            "\n\n",
          ),
          parameters: {
            type: "object",
            properties: {
              [CUSTOM_TOOL_INPUT]: { type: "string", description: customInputHint(tool) },
            },
            required: [CUSTOM_TOOL_INPUT],
            additionalProperties: false,
          },
        }),
      });
    }
    // Hosted tools (web_search, file_search, local_shell, code_interpreter, mcp, …) run on
    // OpenAI's side; a Chat Completions upstream cannot run them, so they are not offered.
  }
  return out;
}

/** A Responses function tool as a Chat Completions function tool named name. */
function chatFunction(tool: JsonObject, name: string): JsonObject {
  return {
    type: "function",
    function: compact({
      name,
      description: stringOf(tool.description),
      parameters: isRecord(tool.parameters) ? tool.parameters : undefined,
      strict: typeof tool.strict === "boolean" ? tool.strict : undefined,
    }),
  };
}

/** What the `input` parameter of a freeform tool holds: the raw text, in the tool's grammar. */
function customInputHint(tool: JsonObject): string {
  const hint = "The raw input of this tool, as plain text (not JSON).";
  const format = isRecord(tool.format) ? tool.format : undefined;
  if (format?.type !== "grammar" || typeof format.definition !== "string") return hint;
  const syntax = stringOf(format.syntax) ?? "lark";
  return `${hint} It must match this ${syntax} grammar:\n${format.definition}`;
}

function toolName(tool: JsonObject): string {
  return isRecord(tool.function) ? String(tool.function.name) : "";
}

/** The tool names an `allowed_tools` tool_choice restricts to, if it is one. */
function allowedToolNames(choice: unknown): Set<string> | undefined {
  if (!isRecord(choice) || choice.type !== "allowed_tools") return undefined;
  return new Set(
    records(choice.tools).map((t) => stringOf(t.name)).filter((n) => n !== undefined),
  );
}

function chatToolChoice(choice: unknown, offered: Set<string>): unknown {
  if (choice === "auto" || choice === "none" || choice === "required") return choice;
  if (!isRecord(choice)) return undefined;
  if (choice.type === "allowed_tools") {
    // The tools list is already narrowed to the allowed ones; what remains is the mode.
    return choice.mode === "required" ? "required" : "auto";
  }
  const name = stringOf(choice.name);
  if ((choice.type === "function" || choice.type === "custom") && name && offered.has(name)) {
    return { type: "function", function: { name } };
  }
  // A hosted tool (web_search, mcp, …) was named: it is not offered, so leave the choice to the model.
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// structured output

function chatResponseFormat(format: unknown): JsonObject | undefined {
  if (!isRecord(format)) return undefined;
  if (format.type === "json_object") return { type: "json_object" };
  if (format.type !== "json_schema") return undefined;
  return {
    type: "json_schema",
    json_schema: compact({
      name: stringOf(format.name) ?? "response",
      description: stringOf(format.description),
      schema: isRecord(format.schema) ? format.schema : undefined,
      strict: typeof format.strict === "boolean" ? format.strict : undefined,
    }),
  };
}
