// The AWS SDK for JavaScript v3's IMDS credential provider as a `credcycle conform` client.
//
// fromInstanceMetadata() (from @smithy/credential-provider-imds, pinned in package.json) with
// the SDK's defaults, memoized the way the SDK's clients memoize their credential provider
// (refresh when less than 5 minutes are left). Every CREDCYCLE_CONFORM_INTERVAL seconds
// (default 0.5) it asks for credentials and prints one JSON line: the access key id and the
// expiry the SDK believes, or the error.
//
//   (cd clients/js && npm ci)
//   credcycle conform -- node clients/js/client.mjs
import { fromInstanceMetadata } from "@smithy/credential-provider-imds";
import { memoize } from "@smithy/property-provider";
import { createRequire } from "node:module";

const version = createRequire(import.meta.url)("@smithy/credential-provider-imds/package.json").version;
console.error(`@smithy/credential-provider-imds ${version}`);

const interval = 1000 * Number(process.env.CREDCYCLE_CONFORM_INTERVAL ?? "0.5");
const FIVE_MINUTES = 300_000;
const provider = memoize(
  fromInstanceMetadata(),
  (c) => c.expiration !== undefined && c.expiration.getTime() - Date.now() < FIVE_MINUTES,
  (c) => c.expiration !== undefined,
);

const isoSeconds = (d) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

for (;;) {
  let line;
  try {
    const c = await provider();
    line = { access_key_id: c.accessKeyId };
    if (c.expiration) line.expiration = isoSeconds(c.expiration);
  } catch (e) {
    line = { error: `${e?.name ?? "Error"}: ${e?.message ?? e}` };
  }
  process.stdout.write(JSON.stringify(line) + "\n");
  await new Promise((r) => setTimeout(r, interval));
}
