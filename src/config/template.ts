/** A local server `init --detect` found running, to be written as an active block. */
export interface DetectedServer {
  id: string;
  /** What discovery identified it as (ollama, vllm, lmstudio, llamacpp, openai). */
  kind?: string;
  apiBase: string;
  models: string[];
}

/** An active provider block for a server found running, with the exact ids it serves. */
function detectedBlock(found: DetectedServer): string[] {
  const out = [
    `  ${found.id}:`,
    `    api_base: ${found.apiBase}`,
    "    auto_discover: true   # keep the model list live while bitrouter runs",
    "    models:   # found running by init --detect",
  ];
  if (found.models.length === 0) out.push("      []");
  for (const m of found.models) out.push(`      - id: ${quote(m)}`);
  return out;
}

const LOCAL_BLOCKS: {
  id: string;
  title: string;
  apiBase: string;
  example: string;
  note: string;
}[] = [
  {
    id: "ollama",
    title: "Ollama (ollama serve)",
    apiBase: "http://localhost:11434/v1",
    example: "llama3.1",
    note: "model ids as `ollama list` shows them; provider_model_id maps a short name to a tag",
  },
  {
    id: "vllm",
    title: "vLLM (vllm serve MODEL)",
    apiBase: "http://localhost:8000/v1",
    example: "Qwen/Qwen2.5-7B-Instruct",
    note: "the id is the name vllm serve was started with (or its --served-model-name)",
  },
  {
    id: "lmstudio",
    title: "LM Studio (Developer tab → Start server)",
    apiBase: "http://localhost:1234/v1",
    example: "qwen2.5-7b-instruct",
    note: "ids as LM Studio lists them under GET /v1/models",
  },
  {
    id: "llamacpp",
    title: "llama.cpp (llama-server -m model.gguf)",
    apiBase: "http://localhost:8080/v1",
    example: "local",
    note: "llama-server serves one model whatever the id; pick any name",
  },
];

const HOSTED_BLOCKS: { id: string; keyVar: string; example: string }[] = [
  { id: "openai", keyVar: "OPENAI_API_KEY", example: "gpt-4o-mini" },
  { id: "anthropic", keyVar: "ANTHROPIC_API_KEY", example: "claude-sonnet-4-5" },
  { id: "openrouter", keyVar: "OPENROUTER_API_KEY", example: "meta-llama/llama-3.1-70b-instruct" },
  { id: "groq", keyVar: "GROQ_API_KEY", example: "llama-3.3-70b-versatile" },
  { id: "gemini", keyVar: "GEMINI_API_KEY", example: "gemini-2.5-flash" },
  { id: "mistral", keyVar: "MISTRAL_API_KEY", example: "mistral-small-latest" },
  { id: "deepseek", keyVar: "DEEPSEEK_API_KEY", example: "deepseek-chat" },
  {
    id: "together",
    keyVar: "TOGETHER_API_KEY",
    example: "meta-llama/Llama-3.3-70B-Instruct-Turbo",
  },
  {
    id: "fireworks",
    keyVar: "FIREWORKS_API_KEY",
    example: "accounts/fireworks/models/llama-v3p1-8b-instruct",
  },
  { id: "xai", keyVar: "XAI_API_KEY", example: "grok-3-mini" },
  { id: "cerebras", keyVar: "CEREBRAS_API_KEY", example: "llama-3.3-70b" },
];

function quote(s: string): string {
  return /^[A-Za-z0-9_.\/-]+$/.test(s) && !/^[0-9.]+$/.test(s) ? s : JSON.stringify(s);
}

/** The commented starter `bitrouter.yaml` of `bitrouter init` (SPEC §1); valid as written. */
export function initTemplate(detected: DetectedServer[] = []): string {
  const out: string[] = [
    "# bitrouter.yaml — one OpenAI-compatible endpoint for every model server you can reach.",
    "# Clients use http://127.0.0.1:4356/v1 and name a model three ways:",
    "#   ollama:llama3.1   pin: that provider only, the rest is sent as the model id",
    "#   llama3.1          cascade: every active provider that lists it, by priority",
    "#   smart             a virtual model from `models:` below, with failover",
    "# Check it with `bitrouter config validate`, see where a model goes with `bitrouter route MODEL`.",
    "# ${VAR} and ${VAR:-default} are replaced from the environment.",
    "",
    "server:",
    "  listen: 127.0.0.1:4356   # loopback only; see the README before opening it up",
    "  skip_auth: true          # false: require one of api_keys from every client",
    "  # api_keys: [${BITROUTER_API_KEY}]",
    "  log_level: info          # info: a line per request; warn: failed ones only; error; debug",
    "  # body_timeout_secs: 30  # a client must send its whole request body within this, else 408",
    "  # watch: true            # reload when this file changes (SIGHUP always reloads)",
    "  # shutdown_grace_secs: 30   # on SIGTERM/SIGINT, how long running requests may finish",
    "  # allowed_hosts: [bitrouter.lan]   # names besides localhost/127.0.0.1 that may address it",
    "  # cors_origins: [http://localhost:3000]   # web pages allowed to call it (default: none)",
    "",
    "upstream:",
    "  timeouts:",
    "    connect_secs: 10",
    "    first_byte_secs: 300   # local servers load a model on first use; be patient",
    "    idle_secs: 120         # longest silence inside a streamed answer",
    "    # queue_secs: 30       # when every candidate is at max_concurrent, wait this long for a",
    "                           # free slot, then 503 overloaded",
    "",
    "providers:",
    "  # Local servers. Uncomment the block of each server you run.",
  ];
  for (const b of LOCAL_BLOCKS) {
    const found = detected.find((d) => d.id === b.id);
    out.push("", `  # ${b.title}`);
    if (found) {
      out.push(...detectedBlock(found));
      continue;
    }
    out.push(
      `  # ${b.id}:`,
      `  #   api_base: ${b.apiBase}`,
      `  #   # max_concurrent: 4   # requests at once; more go to the next candidate or wait`,
      `  #   models:   # ${b.note}`,
      `  #     - id: ${b.example}`,
    );
    if (b.id === "ollama") {
      out.push("  #     - id: qwen2.5-coder", "  #       provider_model_id: qwen2.5-coder:7b");
    }
    if (b.id === "vllm" || b.id === "llamacpp") {
      out.push(
        "  #   # A system message after the first user turn (Claude Code sends one) makes many chat",
        "  #   # templates raise an error: merge (default) appends it to the first system message,",
        "  #   # user keeps it in place as a user turn, keep sends it as it came.",
        "  #   # compatibility: { chat_completions: { system_messages: merge } }",
      );
    }
  }
  for (const d of detected.filter((d) => !LOCAL_BLOCKS.some((b) => b.id === d.id))) {
    out.push("", `  # ${d.kind ?? "model server"} found at ${d.apiBase} by init --detect`);
    out.push(...detectedBlock(d));
  }
  out.push(
    "",
    "  # Hosted providers. A built-in id needs no api_base: `openai: {}` takes its address and",
    "  # reads its key from the variable shown; with the variable unset the provider is shown",
    "  # inactive and everything else keeps working.",
  );
  for (const h of HOSTED_BLOCKS) {
    out.push(
      "",
      `  # ${h.id}:`,
      `  #   api_key: \${${h.keyVar}}`,
      `  #   models: [{ id: ${quote(h.example)} }]`,
    );
  }
  out.push(
    "",
    "# Virtual models: one name over an ordered chain, tried in order until one answers.",
    "# models:",
    "#   smart:",
    "#     strategy: priority          # priority: as listed | cascade: by provider priority",
    "#                                 # | balance: most free capacity first",
    "#     endpoints:",
    "#       - provider: ollama",
    "#         service_id: llama3.1     # free and local first",
    "#       - provider: openai",
    "#         service_id: gpt-4o-mini  # hosted when the local one is down or busy",
    "",
    "# Discovery: probe these servers while running; their models appear (and servers that stop",
    "# are marked down) without a restart. A provider with `auto_discover: true` is kept live too.",
    "# BITROUTER_DISCOVERY=host:port,... overrides targets; BITROUTER_DISCOVERY=off probes nothing.",
    "# discovery:",
    "#   enabled: true         # false: probe once at startup only",
    "#   interval_secs: 15",
    "#   targets: [127.0.0.1:11434, 127.0.0.1:8000, 127.0.0.1:1234, 127.0.0.1:8080]",
    "",
    "# Endpoint health: an endpoint that keeps failing is tried after the healthy ones for a while,",
    "# then one request probes it. `bitrouter route MODEL` shows it while bitrouter runs.",
    "# health:",
    "#   failures: 3                 # consecutive failures before a cooldown",
    "#   cooldown_secs: 30",
    "#   max_retry_after_secs: 300   # a 429's Retry-After cools an endpoint at once, up to this",
    "",
    "# Usage store: one row per request (tokens, cost); `bitrouter usage` reports it, with what",
    "# local serving saved. Local servers cost 0 unless a model has `pricing`; set `local: false`",
    "# on a provider to count it as hosted (or `local: true` for a GPU box on a public address).",
    "# database:",
    "#   url: sqlite://bitrouter.db   # beside this file; sqlite:///abs/path.db elsewhere",
    "# usage:                         # or `usage: false` to keep no store",
    "#   retention_days: 90",
    "#   reference_model: gpt-4o-mini # what local tokens are compared with",
    "# GET /metrics (Prometheus) needs the API key unless server.metrics_public: true.",
    "",
    "# Stored responses: a Responses client's `previous_response_id` and `item_reference` name",
    "# answers BitRouter kept (unless the request said store: false); kept in memory this long.",
    "# responses:",
    "#   store_ttl_secs: 3600",
    "",
  );
  return out.join("\n");
}
