/**
 * Responses ↔ Chat Completions (SPEC §6): a client speaking the OpenAI Responses API (Codex,
 * `wire_api = "responses"`) served by an upstream that speaks only Chat Completions. Chat
 * Completions is also the pivot for Responses → Anthropic Messages (composed with messages' own
 * translation), so reasoning text, usage and tool calls are read from every chat dialect.
 */
import type { Translation } from "../translation.ts";
import { openaiErrorBody } from "../openai_error.ts";
import { responsesRequestToChat } from "./chat_request.ts";
import { chatAnswerToResponse } from "./chat_answer.ts";
import { chatStreamToResponses } from "./chat_stream.ts";

/** Translation for a Responses client and a Chat Completions upstream. */
export const responsesViaChat: Translation = {
  request: responsesRequestToChat,
  response: chatAnswerToResponse,
  stream: chatStreamToResponses,
  error: openaiErrorBody,
};
