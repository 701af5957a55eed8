import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type DetectedServer, initTemplate } from "../config/template.ts";
import { zeroConfig } from "../config/load.ts";
import { createDiscovery } from "../discovery/discovery.ts";
import { parseCommand } from "./args.ts";
import { CliError, type Io } from "./io.ts";
import { discoveryTargets, STARTUP_PROBE_MS } from "./load.ts";

/** Usage of `bitrouter init`. */
export const INIT_USAGE = `Usage: bitrouter init [OPTIONS]

Write a commented starter bitrouter.yaml: loopback only, no auth, a block to uncomment for
Ollama, vLLM, LM Studio, llama.cpp and each common hosted provider.

Options:
  -c, --config PATH   where to write it (default ./bitrouter.yaml)
      --force         overwrite an existing file
      --detect        also write active blocks for the local servers found running now
                      (the four default ports, or BITROUTER_DISCOVERY=host:port,...)
      --json          print {"written": PATH, "detected": [...]} instead of text
  -h, --help          show this help`;

/** `bitrouter init`: writes the starter config, never over an existing file without --force. */
export async function initCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommand(argv, {
    config: { type: "string", short: "c" },
    force: { type: "boolean" },
    detect: { type: "boolean" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, INIT_USAGE);
  if (values.help) {
    io.out(INIT_USAGE);
    return 0;
  }
  const path = resolve(io.cwd, values.config ?? "bitrouter.yaml");
  if (existsSync(path) && !values.force) {
    throw new CliError(
      `${path} already exists`,
      "pass --force to overwrite it, or -c PATH to write elsewhere",
    );
  }
  const detected = values.detect ? await detectServers(io) : [];
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeTextFile(path, initTemplate(detected));
  } catch (e) {
    throw new CliError(
      `cannot write ${path}: ${(e as Error).message}`,
      "check the folder exists and is writable",
    );
  }
  if (values.json) {
    io.out(
      JSON.stringify({
        written: path,
        detected: detected.map((d) => ({
          id: d.id,
          kind: d.kind,
          api_base: d.apiBase,
          models: d.models,
        })),
      }),
    );
    return 0;
  }
  io.out(`wrote ${path}`);
  if (values.detect) {
    io.out(
      detected.length
        ? `found running: ${
          detected.map((d) => `${d.id} at ${d.apiBase} (${d.models.length} models)`).join(", ")
        }`
        : "found no local server running (Ollama 11434, vLLM 8000, LM Studio 1234, llama.cpp 8080)",
    );
  }
  io.out(
    "next: uncomment the block of each server you run, then `bitrouter config validate` and `bitrouter`",
  );
  return 0;
}

/** The servers answering at the discovery targets now, as `init --detect` writes them. */
async function detectServers(io: Io): Promise<DetectedServer[]> {
  const base = zeroConfig();
  const { targets } = discoveryTargets(base, io);
  const discovery = createDiscovery({ config: base, targets, background: false, fetch: io.fetch });
  await discovery.runRound({ timeoutMs: STARTUP_PROBE_MS });
  return discovery.servers().filter((s) => !s.downReason);
}
