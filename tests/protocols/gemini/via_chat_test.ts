import assert from "node:assert/strict";
import OpenAI from "openai";
import { chatViaGenerateContent } from "../../../src/protocols/chat/via_generate_content.ts";
import { geminiViaChat } from "../../../src/protocols/gemini/via_chat.ts";
import { geminiNative } from "../../../src/protocols/gemini/native.ts";
import { estimateGeminiTokens } from "../../../src/protocols/gemini/count_tokens.ts";
import { camelCaseRequest } from "../../../src/protocols/gemini/field_names.ts";
import { TranslationError } from "../../../src/protocols/translation.ts";
import { framerFor } from "../../../src/proxy/framing.ts";
import {
  assertGolden,
  CTX,
  fixture,
  fixtureObject,
  translateEventByEvent,
  upstreamEvents,
} from "../golden.ts";
import { sseFetch } from "../sdk_fetch.ts";

// --- Gemini client → Chat Completions upstream ---

Deno.test("a Gemini request becomes a chat request: parts, calls and responses by id then name, schemas made JSON Schema", () => {
  const out = geminiViaChat.request(fixtureObject("gemini_request.json"), CTX);
  assertGolden(out, "gemini_via_chat.gemini_request.json");
  const tools = out.messages as { role: string; tool_call_id?: string }[];
  assert.deepEqual(tools.filter((m) => m.role === "tool").map((m) => m.tool_call_id), [
    "fc-oslo",
    "call_0",
  ]);
});

Deno.test("candidateCount above 1 is refused, other media than images too", () => {
  assert.throws(
    () =>
      geminiViaChat.request({
        contents: [{ role: "user", parts: [{ text: "hi" }] }],
        generationConfig: { candidateCount: 2 },
      }, CTX),
    (e: unknown) => e instanceof TranslationError && /candidateCount/.test(e.message),
  );
  assert.throws(
    () =>
      geminiViaChat.request({
        contents: [{
          role: "user",
          parts: [{ inlineData: { mimeType: "audio/wav", data: "UklGRg==" } }],
        }],
      }, CTX),
    (e: unknown) => e instanceof TranslationError && /audio\/wav/.test(e.message),
  );
});

Deno.test("a streamed chat answer becomes Gemini responses, the calls whole in the last with finishReason and usage", () => {
  const translator = geminiViaChat.stream(CTX);
  const out = translateEventByEvent(translator, upstreamEvents("chat_stream_openai_tools.json"));
  assert.equal(translator.finished, true);
  assertGolden(out, "gemini_via_chat.chat_stream_openai_tools.json");
  const last = out.flat().at(-1)!.data as {
    candidates: { finishReason: string; content: { parts: unknown[] } }[];
    usageMetadata: Record<string, number>;
  };
  assert.equal(last.candidates[0].finishReason, "STOP");
  assert.equal(last.candidates[0].content.parts.length, 2);
  assert.equal(last.usageMetadata.candidatesTokenCount, 58);
});

Deno.test("a whole chat answer becomes a GenerateContentResponse; length is MAX_TOKENS", () => {
  assertGolden(
    geminiViaChat.response(fixture("chat_answer_tool_calls.json"), CTX),
    "gemini_via_chat.chat_answer_tool_calls.json",
  );
  const cut = geminiViaChat.response(fixture("chat_answer_ollama_length.json"), CTX) as {
    candidates: { finishReason: string }[];
  };
  assert.equal(cut.candidates[0].finishReason, "MAX_TOKENS");
});

Deno.test("errors are Google's {error:{code,message,status}}", () => {
  assert.deepEqual(geminiViaChat.error(429, { error: { message: "slow down" } }), {
    error: { code: 429, message: "slow down", status: "RESOURCE_EXHAUSTED" },
  });
});

Deno.test("the JSON-array framing makes one valid JSON document of the stream, even a broken one", () => {
  const translator = geminiViaChat.stream(CTX);
  const events = upstreamEvents("chat_stream_openai_tools.json").slice(0, 3).flatMap((e) =>
    translator.push(e)
  );
  const framer = framerFor("json_array");
  const text = framer.events(events) + framer.events(translator.fail("broke off")) + framer.close();
  const items = JSON.parse(text) as Record<string, unknown>[];
  assert.equal(items.length, 3);
  assert.deepEqual(items.at(-1), {
    error: { code: 500, message: "broke off", status: "INTERNAL" },
  });
  assert.equal(framerFor("json_array").close(), "[]");
});

Deno.test("countTokens' estimate counts text by characters and images at 258", () => {
  const n = estimateGeminiTokens({
    contents: [{
      role: "user",
      parts: [{ text: "x".repeat(40) }, { inlineData: { mimeType: "image/png", data: "AAAA" } }],
    }],
  });
  assert.equal(n, 10 + 258);
});

// --- Chat Completions client → Gemini upstream ---

Deno.test("a chat request becomes a generateContent request without model or stream", () => {
  const out = chatViaGenerateContent.request(fixtureObject("chat_request.json"), CTX);
  assertGolden(out, "chat_via_generate_content.chat_request.json");
  assert.equal(out.model, undefined);
  assert.equal(out.stream, undefined);
});

Deno.test("a Gemini stream becomes chat chunks the openai SDK assembles, reasoning and a call included", async () => {
  const translator = chatViaGenerateContent.stream(CTX);
  const out = translateEventByEvent(translator, upstreamEvents("gemini_stream_text.json"));
  assert.equal(translator.finished, true);
  assertGolden(out, "chat_via_generate_content.gemini_stream_text.json");
  const again = chatViaGenerateContent.stream(CTX);
  const client = new OpenAI({
    apiKey: "x",
    baseURL: "http://bitrouter.test/v1",
    fetch: sseFetch(upstreamEvents("gemini_stream_text.json").flatMap((e) => again.push(e))),
  });
  const completion = await client.chat.completions.stream({ model: "m", messages: [] })
    .finalChatCompletion();
  const choice = completion.choices[0];
  assert.equal(choice.message.content, "Blue skies.");
  assert.equal(choice.finish_reason, "tool_calls");
  const call = choice.message.tool_calls?.[0];
  assert.deepEqual(call?.type === "function" && JSON.parse(call.function.arguments), {
    colour: "blue",
  });
  assert.equal(completion.usage?.completion_tokens, 10);
});

Deno.test("a whole Gemini answer cut at the limit is finish_reason length", () => {
  const out = chatViaGenerateContent.response(fixture("gemini_answer_max_tokens.json"), CTX) as {
    choices: { finish_reason: string; message: { content: string } }[];
    usage: Record<string, number>;
  };
  assert.equal(out.choices[0].finish_reason, "length");
  assert.equal(out.choices[0].message.content, "The sky is");
  assert.deepEqual(out.usage, { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 });
});

Deno.test("Gemini to Gemini: BitRouter's model and stream fields never reach Google; events pass as they are", () => {
  const body = geminiNative.request(
    { model: "gemini-2.5-flash", stream: true, contents: [{ parts: [{ text: "hi" }] }] },
    CTX,
  );
  assert.deepEqual(body, { contents: [{ parts: [{ text: "hi" }] }] });
  const relay = geminiNative.stream(CTX);
  const events = upstreamEvents("gemini_stream_text.json");
  const out = events.flatMap((e) => relay.push(e));
  assert.deepEqual(out.map((e) => e.data), events.map((e) => e.data));
  assert.equal(relay.finished, true);
});

// --- One system message, nothing lost (SPEC §6) ---

Deno.test("a Gemini request reaches a chat upstream with one system message first, however it is spelt", () => {
  // Google's curl examples write proto names (`system_instruction`); the libraries camelCase.
  const body = camelCaseRequest({
    system_instruction: { parts: [{ text: "Be brief." }, { text: " Answer in French." }] },
    contents: [
      {
        role: "user",
        parts: [{ text: "hi" }, { inline_data: { mime_type: "image/png", data: "iVBOR" } }],
      },
      { role: "model", parts: [{ function_call: { name: "lookup", args: { max_tokens: 3 } } }] },
      { role: "user", parts: [{ function_response: { name: "lookup", response: { top_k: 1 } } }] },
    ],
    generation_config: { max_output_tokens: 40, thinking_config: { thinking_budget: 512 } },
    tools: [{
      function_declarations: [{
        name: "lookup",
        parameters_json_schema: { type: "object", properties: { max_tokens: { type: "integer" } } },
      }],
    }],
    tool_config: { function_calling_config: { mode: "ANY" } },
  });
  const out = geminiViaChat.request(body, { ...CTX, systemMessages: "user" });
  const messages = out.messages as Record<string, unknown>[];
  assert.deepEqual(messages.map((m) => m.role), ["system", "user", "assistant", "tool"]);
  assert.equal(messages[0].content, "Be brief. Answer in French.");
  assert.deepEqual(messages[1].content, [
    { type: "text", text: "hi" },
    { type: "image_url", image_url: { url: "data:image/png;base64,iVBOR" } },
  ]);
  // The client's own data keeps its names: arguments, results, schema properties.
  const call = (messages[2].tool_calls as { function: { arguments: string } }[])[0];
  assert.equal(call.function.arguments, '{"max_tokens":3}');
  assert.equal(messages[3].content, '{"top_k":1}');
  assert.equal(out.max_tokens, 40);
  assert.equal(out.reasoning_effort, "low");
  assert.equal(out.tool_choice, "required");
  const tool = (out.tools as { function: { parameters: unknown } }[])[0];
  assert.deepEqual(tool.function.parameters, {
    type: "object",
    properties: { max_tokens: { type: "integer" } },
  });
});

Deno.test("renaming Gemini fields stays shallow however deep a client nests its JSON", () => {
  let deep: unknown = "x";
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const body = camelCaseRequest({ contents: deep, tool_config: { x_y: deep } });
  assert.equal((body.contents as unknown[])[0], (deep as unknown[])[0]);
  assert.deepEqual(Object.keys(body), ["contents", "toolConfig"]);
  // A field sent both ways keeps the camelCase one.
  assert.deepEqual(
    camelCaseRequest({ systemInstruction: { parts: [] }, system_instruction: "lost" }),
    { systemInstruction: { parts: [] } },
  );
});
