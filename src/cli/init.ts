import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { initTemplate } from "../config/template.ts";
import { probeLocalServers } from "../discovery/local_servers.ts";
import { parseCommand } from "./args.ts";
import { CliError, type Io } from "./io.ts";

/** Usage of `bitrouter init`. */
export const INIT_USAGE = `Usage: bitrouter init [OPTIONS]

Write a commented starter bitrouter.yaml: loopback only, no auth, a block to uncomment for
Ollama, vLLM, LM Studio, llama.cpp and each common hosted provider.

Options:
  -c, --config PATH   where to write it (default ./bitrouter.yaml)
      --force         overwrite an existing file
      --detect        also write active blocks for the local servers found running now
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
  const detected = values.detect ? await probeLocalServers(io.fetch) : [];
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
        detected: detected.map((d) => ({ id: d.id, models: d.models })),
      }),
    );
    return 0;
  }
  io.out(`wrote ${path}`);
  if (values.detect) {
    io.out(
      detected.length
        ? `found running: ${detected.map((d) => `${d.id} (${d.models.length} models)`).join(", ")}`
        : "found no local server running (Ollama 11434, vLLM 8000, LM Studio 1234, llama.cpp 8080)",
    );
  }
  io.out(
    "next: uncomment the block of each server you run, then `bitrouter config validate` and `bitrouter`",
  );
  return 0;
}
