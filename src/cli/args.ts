import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./io.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** The options every config-reading command takes. */
export const CONFIG_OPTIONS = {
  config: { type: "string", short: "c" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies Options;

/** Parses argv strictly; a misuse becomes a UsageError carrying the command's usage. */
export function parseCommand<T extends Options>(argv: string[], options: T, usage: string) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    // node's wording adds advice about `--` that does not apply here; keep the first sentence.
    const message = (e as Error).message.split("\n")[0].replace(
      /\. To specify a positional.*$/,
      "",
    );
    throw new UsageError(message, usage);
  }
}
