import assert from "node:assert/strict";
import { providerSecrets, redactSecrets } from "../../src/proxy/redact.ts";
import type { Provider } from "../../src/config/types.ts";

Deno.test("every occurrence of each secret is redacted", () => {
  const key = "sk-proj-abcdef0123456789";
  assert.equal(
    redactSecrets(`Incorrect API key provided: ${key}. You passed ${key}.`, [key]),
    "Incorrect API key provided: [redacted]. You passed [redacted].",
  );
  assert.equal(redactSecrets("nothing secret here", [key]), "nothing secret here");
});

Deno.test("secrets shorter than 8 characters are left alone, so text is not mangled", () => {
  assert.equal(redactSecrets("the model said ok", ["ok", "model"]), "the model said ok");
  assert.equal(redactSecrets("key 12345678 bad", ["12345678"]), "key [redacted] bad");
});

Deno.test("a provider's secrets: its key, its header values and their bearer tokens, longest first", () => {
  const provider = {
    apiKey: "sk-live-0123456789",
    headers: { authorization: "Bearer org-token-abcdef", "x-short": "abc", "x-team": "team-42" },
  } as unknown as Provider;
  assert.deepEqual(providerSecrets(provider), [
    "Bearer org-token-abcdef",
    "sk-live-0123456789",
    "org-token-abcdef",
  ]);
  assert.equal(
    redactSecrets("got Bearer org-token-abcdef and org-token-abcdef", providerSecrets(provider)),
    "got [redacted] and [redacted]",
  );
  assert.deepEqual(providerSecrets({ headers: {} } as unknown as Provider), []);
});
