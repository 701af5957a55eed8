import type { Protocol } from "../config/protocol.ts";

/** A provider BitRouter knows without being told: `openai: {}` in a config is enough. */
export interface CatalogEntry {
  apiBase: string;
  protocol: Protocol;
  /** Environment variable holding the key; absent for local servers. */
  keyVar?: string;
  /** Well-known model ids, so bare names cascade to it before anything is discovered. */
  models: string[];
  local?: boolean;
}

/** Built-in providers by id: the hosted ones and the four local servers' default addresses. */
export const CATALOG: Readonly<Record<string, CatalogEntry>> = {
  openai: {
    apiBase: "https://api.openai.com/v1",
    protocol: "chat_completions",
    keyVar: "OPENAI_API_KEY",
    models: ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini"],
  },
  anthropic: {
    apiBase: "https://api.anthropic.com/v1",
    protocol: "messages",
    keyVar: "ANTHROPIC_API_KEY",
    models: ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"],
  },
  openrouter: {
    apiBase: "https://openrouter.ai/api/v1",
    protocol: "chat_completions",
    keyVar: "OPENROUTER_API_KEY",
    models: [],
  },
  groq: {
    apiBase: "https://api.groq.com/openai/v1",
    protocol: "chat_completions",
    keyVar: "GROQ_API_KEY",
    models: ["llama-3.3-70b-versatile", "llama-3.1-8b-instant"],
  },
  gemini: {
    apiBase: "https://generativelanguage.googleapis.com/v1beta/openai",
    protocol: "chat_completions",
    keyVar: "GEMINI_API_KEY",
    models: ["gemini-2.5-flash", "gemini-2.5-pro"],
  },
  mistral: {
    apiBase: "https://api.mistral.ai/v1",
    protocol: "chat_completions",
    keyVar: "MISTRAL_API_KEY",
    models: ["mistral-large-latest", "mistral-small-latest", "codestral-latest"],
  },
  deepseek: {
    apiBase: "https://api.deepseek.com/v1",
    protocol: "chat_completions",
    keyVar: "DEEPSEEK_API_KEY",
    models: ["deepseek-chat", "deepseek-reasoner"],
  },
  together: {
    apiBase: "https://api.together.xyz/v1",
    protocol: "chat_completions",
    keyVar: "TOGETHER_API_KEY",
    models: [],
  },
  fireworks: {
    apiBase: "https://api.fireworks.ai/inference/v1",
    protocol: "chat_completions",
    keyVar: "FIREWORKS_API_KEY",
    models: [],
  },
  xai: {
    apiBase: "https://api.x.ai/v1",
    protocol: "chat_completions",
    keyVar: "XAI_API_KEY",
    models: ["grok-4", "grok-3-mini"],
  },
  cerebras: {
    apiBase: "https://api.cerebras.ai/v1",
    protocol: "chat_completions",
    keyVar: "CEREBRAS_API_KEY",
    models: ["llama-3.3-70b", "qwen-3-32b"],
  },
  ollama: {
    apiBase: "http://localhost:11434/v1",
    protocol: "chat_completions",
    models: [],
    local: true,
  },
  vllm: {
    apiBase: "http://localhost:8000/v1",
    protocol: "chat_completions",
    models: [],
    local: true,
  },
  lmstudio: {
    apiBase: "http://localhost:1234/v1",
    protocol: "chat_completions",
    models: [],
    local: true,
  },
  llamacpp: {
    apiBase: "http://localhost:8080/v1",
    protocol: "chat_completions",
    models: [],
    local: true,
  },
};

/** The catalog entry for a provider id, if it is a built-in one. */
export function catalogEntry(id: string): CatalogEntry | undefined {
  return Object.hasOwn(CATALOG, id) ? CATALOG[id] : undefined;
}
