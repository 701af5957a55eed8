/**
 * An OpenAI Responses request (`POST /v1/responses`, what Codex sends) as a Chat Completions
 * request, for upstreams that only speak Chat Completions (Ollama, vLLM, LM Studio, llama.cpp).
 *
 * Decisions where the two APIs differ (SPEC §6 is silent on them):
 * - Nothing is stored upstream, so `previous_response_id`, `conversation`, `prompt` (a stored
 *   prompt), `background` and an explicit `store: true` are refused with a 400 that says what to
 *   send instead. An absent `store` is accepted: Codex and most clients that send the whole
 *   conversation say `store: false`, and refusing the API's default would refuse plain SDK calls.
 * - `developer` messages become `system` messages: local chat templates know only system. The
 *   system messages before the first other message (instructions, Codex's developer messages)
 *   are joined into one, because many local templates accept a system message only first.
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
import { noteRequestFacts } from "./request_facts.ts";

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
  const tools = chatTools(body.tools, customTools);
  const allowed = allowedToolNames(body.tool_choice);
  const offered = allowed ? tools.filter((t) => allowed.has(toolName(t))) : tools;
  const chat: JsonObject = {
    model: ctx.upstreamModel,
    messages: chatMessages(body),
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
  noteRequestFacts(ctx, { customTools, echo: echoedFields(body) });
  return chat;
}

function refuseStoredState(body: JsonObject): void {
  const noStore =
    "this provider speaks Chat Completions and keeps no stored responses; send the whole conversation in `input`";
  if (body.previous_response_id !== undefined && body.previous_response_id !== null) {
    throw new TranslationError(
      `previous_response_id is not supported: ${noStore} (with store: false)`,
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
  if (body.store === true) {
    throw new TranslationError(
      "store: true is not supported: this provider speaks Chat Completions and stores nothing; send `store: false`",
      "store",
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
    store: false,
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

function chatMessages(body: JsonObject): ChatMessage[] {
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
  for (const item of records(body.input)) {
    const type = item.type ?? (item.role !== undefined ? "message" : undefined);
    switch (type) {
      case "message": {
        flushToolImages();
        const message = chatMessage(item);
        if (message) out.push(message);
        break;
      }
      case "function_call":
      case "custom_tool_call": {
        flushToolImages();
        addToolCall(out, chatToolCall(item, type === "custom_tool_call"));
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
        // reasoning (Chat Completions takes none back), item_reference (points into a store that
        // does not exist here), hosted tool calls and unknown types: dropped, never a 400.
        break;
    }
  }
  flushToolImages();
  return mergeLeadingSystem(out);
}

/**
 * One system message instead of several at the start (instructions, then Codex's developer
 * messages): many local chat templates accept a system message only as the first message.
 */
function mergeLeadingSystem(messages: ChatMessage[]): ChatMessage[] {
  let n = 0;
  while (messages[n]?.role === "system" && typeof messages[n].content === "string") n++;
  if (n < 2) return messages;
  const content = messages.slice(0, n).map((m) => m.content).join("\n\n");
  return [{ role: "system", content }, ...messages.slice(n)];
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

function chatToolCall(item: JsonObject, custom: boolean): JsonObject {
  // A custom tool's call goes back as the function it was offered as: {"input": "<raw text>"}.
  const args = custom
    ? JSON.stringify({ [CUSTOM_TOOL_INPUT]: stringOf(item.input) ?? "" })
    : stringOf(item.arguments) ?? "{}";
  return {
    id: String(item.call_id ?? ""),
    type: "function",
    function: { name: stringOf(item.name) ?? "", arguments: args },
  };
}

/** Adds a tool call to the assistant turn just before it, or starts one: one turn per batch. */
function addToolCall(out: ChatMessage[], call: JsonObject): void {
  const last = out.at(-1);
  if (last?.role === "assistant") {
    const calls = Array.isArray(last.tool_calls) ? last.tool_calls : [];
    last.tool_calls = [...calls, call];
    // Chat Completions wants null, not "", for an assistant turn that only calls tools.
    if (last.content === "") last.content = null;
    return;
  }
  out.push({ role: "assistant", content: null, tool_calls: [call] });
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

function chatTools(tools: unknown, customTools: Set<string>): JsonObject[] {
  const out: JsonObject[] = [];
  for (const tool of records(tools)) {
    const name = stringOf(tool.name);
    if (name === undefined) continue;
    if (tool.type === "function") {
      out.push({
        type: "function",
        function: compact({
          name,
          description: stringOf(tool.description),
          parameters: isRecord(tool.parameters) ? tool.parameters : undefined,
          strict: typeof tool.strict === "boolean" ? tool.strict : undefined,
        }),
      });
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
