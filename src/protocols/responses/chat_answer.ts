/** A whole Chat Completions answer (`chat.completion`) as an OpenAI Responses object. */
import type { TranslationContext } from "../translation.ts";
import { isRecord, type JsonObject, records, stringOf } from "../narrow.ts";
import { requestFacts } from "./request_facts.ts";
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
  responseObject,
  type ResponseStatus,
  responsesUsage,
  statusFor,
} from "./response_object.ts";

/** The Responses object for a Chat Completions answer body. */
export function chatAnswerToResponse(body: unknown, ctx: TranslationContext): JsonObject {
  const answer = isRecord(body) ? body : {};
  if (isRecord(answer.error)) {
    // A 200 that carries an error (some servers do this) is a failed response, not an empty one.
    return responseObject(ctx, {
      status: "failed",
      output: [],
      error: {
        code: "server_error",
        message: stringOf(answer.error.message) ?? "the upstream answered with an error",
      },
    });
  }
  const choice = records(answer.choices)[0] ?? {};
  const message = isRecord(choice.message) ? choice.message : {};
  const { status, reason } = statusFor(choice.finish_reason);
  const output = outputItems(message, ctx);
  // Only the item being written when the answer was cut off is incomplete.
  if (status === "incomplete" && output.length > 0) output[output.length - 1].status = status;
  const response = responseObject(ctx, {
    status,
    output,
    usage: responsesUsage(answer.usage),
    incompleteReason: reason,
  });
  ctx.onResponse?.(response);
  return response;
}

function outputItems(message: JsonObject, ctx: TranslationContext): JsonObject[] {
  const done: ResponseStatus = "completed";
  const out: JsonObject[] = [];
  const reasoning = chatReasoning(message);
  if (reasoning !== "") {
    out.push(reasoningItem(itemId("rs", ctx, out.length), reasoning, done, chatSignature(message)));
  }
  const parts: JsonObject[] = [];
  const text = messageText(message.content);
  if (text !== "") parts.push(outputTextPart(text));
  if (typeof message.refusal === "string" && message.refusal !== "") {
    parts.push({ type: "refusal", refusal: message.refusal });
  }
  if (parts.length > 0) out.push(messageItem(itemId("msg", ctx, out.length), parts, done));
  const { customTools: custom, namespaced } = requestFacts(ctx);
  for (const call of records(message.tool_calls)) {
    const fn = isRecord(call.function) ? call.function : {};
    const name = stringOf(fn.name) ?? "";
    const args = stringOf(fn.arguments) ?? "";
    // Some local servers leave the id out; the client needs one to answer the call.
    const callId = stringOf(call.id) || fallbackCallId(ctx, out.length);
    out.push(
      custom.has(name)
        ? customToolCallItem(
          itemId("ctc", ctx, out.length),
          { callId, name, input: customToolInput(args) },
          done,
        )
        : functionCallItem(
          itemId("fc", ctx, out.length),
          { callId, name, arguments: args },
          done,
          namespaced,
        ),
    );
  }
  return out;
}

/** The text of chat content: a string, or the text parts some servers send as an array. */
function messageText(content: unknown): string {
  if (typeof content === "string") return content;
  return records(content).filter((p) => p.type === "text").map((p) => stringOf(p.text) ?? "")
    .join("");
}
