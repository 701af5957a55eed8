/**
 * Which models each client API lists (SPEC §6: a listed model answers on that API): a routable
 * model whose candidates include one this API can reach — the same protocol, or one BitRouter
 * translates it to.
 */
import { type ClientProtocol, translationFor } from "../../protocols/registry.ts";
import { resolveCandidates, routableModels } from "../../routing/resolve.ts";
import type { RouteTable } from "../../routing/route_table.ts";

/** The routable model ids a client protocol can reach, sorted. */
export function modelsAnsweringOn(table: RouteTable, client: ClientProtocol): string[] {
  const out: string[] = [];
  for (const id of routableModels(table).keys()) {
    try {
      const { candidates } = resolveCandidates(table, id);
      if (candidates.some((c) => c.protocol === client || translationFor(client, c.protocol))) {
        out.push(id);
      }
    } catch { /* listed as routable a moment ago; not now */ }
  }
  return out;
}
