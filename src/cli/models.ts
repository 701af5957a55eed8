import { routableModels } from "../routing/resolve.ts";
import { buildRouteTable } from "../routing/route_table.ts";
import { parseCommand } from "./args.ts";
import { CliError, type Io, table } from "./io.ts";
import { loadDiscovered } from "./load.ts";

/** Usage of `bitrouter models`. */
export const MODELS_USAGE = `Usage: bitrouter models [OPTIONS]

List every model id routable now, with the providers that serve it (the same list as
GET /v1/models). Any provider's model can also be pinned as PROVIDER:MODEL.

Options:
  -c, --config PATH      config file
  -p, --provider ID      only models served by this provider
      --json             print JSON
  -h, --help             show this help`;

/** `bitrouter models`. */
export async function modelsCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommand(argv, {
    config: { type: "string", short: "c" },
    provider: { type: "string", short: "p" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, MODELS_USAGE);
  if (values.help) {
    io.out(MODELS_USAGE);
    return 0;
  }
  const { config } = await loadDiscovered(values.config, io);
  const filter = values.provider;
  if (filter && !config.providers.some((p) => p.id === filter)) {
    throw new CliError(`no provider "${filter}"`, "run `bitrouter providers` to list them");
  }
  const models = [...routableModels(buildRouteTable(config))]
    .filter(([, providers]) => !filter || providers.includes(filter))
    .map(([id, providers]) => ({ id, providers }));
  if (values.json) {
    io.out(JSON.stringify({ models }));
    return 0;
  }
  if (models.length === 0) {
    io.out("no routable models: declare models under a provider, or check `bitrouter providers`");
    return 0;
  }
  io.out(
    table([["MODEL", "PROVIDERS"], ...models.map((m) => [m.id, m.providers.join(", ")])]).join(
      "\n",
    ),
  );
  return 0;
}
