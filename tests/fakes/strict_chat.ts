/**
 * A fake Chat Completions server on 127.0.0.1 with a strict chat template, like many llama.cpp
 * and vLLM models: a second system message, or one that is not first, is refused with 400
 * ("System message must be at the beginning."), as their Jinja templates raise. It answers with
 * reasoning (`reasoning_content`) before its text, whole or streamed, and calls a scripted tool
 * when the request offers a function of that name and the conversation does not end in a tool
 * result. Every request is recorded.
 */

/** How the fake answers. */
export interface StrictChatOptions {
  /** pieces of the reasoning, one `reasoning_content` delta each; default none */
  reasoning?: string[];
  /** pieces of the text answer; default ["Hello", " from", " strict"] */
  content?: string[];
  /** call this function (when offered) with these arguments instead of answering with text */
  toolCall?: { name: string; arguments: string };
}

/** One request the fake received. */
export interface StrictChatRequest {
  path: string;
  body: Record<string, unknown>;
}

/** A running fake. */
export interface StrictChat {
  readonly apiBase: string;
  readonly requests: StrictChatRequest[];
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

/** Starts the fake with an OS-chosen port. */
export async function startStrictChat(options: StrictChatOptions = {}): Promise<StrictChat> {
  const requests: StrictChatRequest[] = [];
  const addr = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: addr.resolve },
    async (request) => {
      const path = new URL(request.url).pathname;
      const body = await request.json().catch(() => ({})) as Json;
      requests.push({ path, body });
      if (path !== "/v1/chat/completions") {
        return Response.json({ error: { code: 404, message: "File Not Found" } }, { status: 404 });
      }
      const messages = Array.isArray(body.messages) ? body.messages as Json[] : [];
      const misplaced = messages.findIndex((m, i) => m.role === "system" && i > 0);
      if (misplaced >= 0) {
        return Response.json({
          error: {
            code: 400,
            message: "System message must be at the beginning.",
            type: "invalid_request_error",
          },
        }, { status: 400 });
      }
      return answer(body, messages, options);
    },
  );
  const { port } = await addr.promise;
  return {
    apiBase: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => server.shutdown(),
  };
}

function answer(body: Json, messages: Json[], options: StrictChatOptions): Response {
  const offered = Array.isArray(body.tools)
    ? (body.tools as Json[]).map((t) => (t.function as Json | undefined)?.name)
    : [];
  const call = options.toolCall && offered.includes(options.toolCall.name) &&
      messages.at(-1)?.role !== "tool"
    ? options.toolCall
    : undefined;
  const reasoning = options.reasoning ?? [];
  const content = call ? [] : options.content ?? ["Hello", " from", " strict"];
  const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
  const base = { id: "chatcmpl-strict", created: 1764000000, model: String(body.model) };
  const toolCall = call && {
    id: "call_strict_1",
    type: "function",
    function: { name: call.name, arguments: call.arguments },
  };
  if (body.stream !== true) {
    return Response.json({
      ...base,
      object: "chat.completion",
      choices: [{
        index: 0,
        message: {
          role: "assistant",
          content: call ? null : content.join(""),
          ...(reasoning.length ? { reasoning_content: reasoning.join("") } : {}),
          ...(toolCall ? { tool_calls: [toolCall] } : {}),
        },
        finish_reason: call ? "tool_calls" : "stop",
      }],
      usage,
    });
  }
  const chunk = (delta: Json, finish: string | null = null, extra: Json = {}) =>
    `data: ${
      JSON.stringify({
        ...base,
        object: "chat.completion.chunk",
        choices: [{ index: 0, delta, finish_reason: finish }],
        ...extra,
      })
    }\n\n`;
  const events = [chunk({ role: "assistant", content: "" })];
  for (const r of reasoning) events.push(chunk({ reasoning_content: r }));
  for (const c of content) events.push(chunk({ content: c }));
  if (toolCall) events.push(chunk({ tool_calls: [{ index: 0, ...toolCall }] }));
  events.push(chunk({}, call ? "tool_calls" : "stop"));
  events.push(
    `data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", choices: [], usage })}\n\n`,
  );
  events.push("data: [DONE]\n\n");
  return new Response(events.join(""), { headers: { "content-type": "text/event-stream" } });
}
