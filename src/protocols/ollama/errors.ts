/**
 * Ollama's error shape: `{"error": "<message>"}`, a string. The `ollama` libraries read
 * `error` as the message; any other shape shows as `[object Object]`.
 */

import { errorMessageOf } from "../error_message.ts";

/** An Ollama error body. */
export function ollamaError(message: string): { error: string } {
  return { error: message };
}

/** Any upstream error body (parsed JSON or text) in Ollama's shape. */
export function ollamaErrorBody(status: number, body: unknown): { error: string } {
  return ollamaError(errorMessageOf(status, body));
}
