// The AWS SDK for JavaScript v3's leg of scripts/sdk-interop.sh: its IMDS provider against
// `credcycle sim` (AWS_EC2_METADATA_SERVICE_ENDPOINT), its process provider running
// `credcycle get --format process` (profile via-process of AWS_CONFIG_FILE), and its HTTP
// container provider reading `credcycle serve` (AWS_CONTAINER_CREDENTIALS_FULL_URI with
// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE). One JSON line per way (sdk, version, method, key,
// expires in Unix seconds), for the script to audit; never a secret.
import { readFileSync } from "node:fs";
import { fromInstanceMetadata } from "@smithy/credential-provider-imds";
import { fromProcess } from "@aws-sdk/credential-provider-process";
import { fromHttp } from "@aws-sdk/credential-provider-http";

const version = (name) =>
  JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url))).version;

const ways = [
  ["imds", "@smithy/credential-provider-imds", () => fromInstanceMetadata({ timeout: 1000, maxRetries: 1 })()],
  ["credential_process", "@aws-sdk/credential-provider-process", () => fromProcess({ profile: "via-process" })()],
  ["container", "@aws-sdk/credential-provider-http", () => fromHttp({ timeout: 1000, maxRetries: 1 })()],
];

for (const [method, pkg, resolve] of ways) {
  const creds = await resolve();
  const complete =
    creds.accessKeyId?.startsWith("ASIA") &&
    creds.secretAccessKey &&
    creds.sessionToken &&
    creds.expiration instanceof Date;
  if (!complete) throw new Error(`${method}: incomplete credentials from ${pkg}`);
  console.log(
    JSON.stringify({
      sdk: "AWS SDK for JavaScript v3",
      version: `${pkg} ${version(pkg)}`,
      method,
      key: creds.accessKeyId,
      expires: creds.expiration.getTime() / 1000,
    }),
  );
}
