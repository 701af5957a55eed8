/** The wire formats BitRouter knows (SPEC §2.3). */
export type Protocol = "chat_completions" | "messages" | "responses" | "generate_content";

/** Canonical protocol names, and the synonyms a config may use for them. */
export const PROTOCOL_NAMES: Readonly<Record<string, Protocol>> = {
  chat_completions: "chat_completions",
  openai: "chat_completions",
  messages: "messages",
  anthropic: "messages",
  responses: "responses",
  generate_content: "generate_content",
  google: "generate_content",
};

/** One `{pattern: protocol}` rule of `api_protocol`. */
export interface ProtocolRule {
  pattern: string;
  protocol: Protocol;
}

/** The protocol an `api_base` implies when `api_protocol` is absent. */
export function inferProtocol(apiBase: string): Protocol {
  let url: URL;
  try {
    url = new URL(apiBase);
  } catch {
    return "chat_completions";
  }
  if (url.hostname === "api.anthropic.com") return "messages";
  if (url.hostname.endsWith("googleapis.com") && !url.pathname.includes("/openai")) {
    return "generate_content";
  }
  return "chat_completions";
}

/** How specific a pattern is: exact ids beat longer prefixes beat shorter ones beat `*`. */
function specificity(pattern: string): number {
  if (pattern === "*") return 0;
  if (pattern.endsWith("*")) return pattern.length;
  return Number.MAX_SAFE_INTEGER;
}

/** Sorts rules most specific first, so the first match wins. */
export function sortRules(rules: ProtocolRule[]): ProtocolRule[] {
  return [...rules].sort((a, b) => specificity(b.pattern) - specificity(a.pattern));
}

/** The protocol a provider speaks for one model: the first matching rule, else the fallback. */
export function protocolFor(rules: ProtocolRule[], model: string, fallback: Protocol): Protocol {
  for (const rule of rules) {
    const p = rule.pattern;
    if (p === "*" || p === model || (p.endsWith("*") && model.startsWith(p.slice(0, -1)))) {
      return rule.protocol;
    }
  }
  return fallback;
}

/** Where each protocol's generation endpoint lives under a provider's api_base (SPEC §5). */
export const PROTOCOL_PATHS: Readonly<Partial<Record<Protocol, string>>> = {
  chat_completions: "/chat/completions",
  messages: "/messages",
  responses: "/responses",
};

/**
 * The path of a generation request under a provider's api_base: the protocol's fixed path, or
 * for Gemini's API, whose model and streaming are in the URL, `/models/{model}:generateContent`
 * or `/models/{model}:streamGenerateContent?alt=sse` (SSE, which the relay parses as it comes).
 */
export function upstreamPath(protocol: Protocol, model: string, stream: boolean): string {
  if (protocol !== "generate_content") return PROTOCOL_PATHS[protocol]!;
  const id = encodeURIComponent(model.replace(/^models\//, ""));
  return `/models/${id}:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`;
}
