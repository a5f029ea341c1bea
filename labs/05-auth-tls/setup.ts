/**
 * Lab 05's part of the stub step (`npm run lab 05 -- gen`): a local CA and
 * the certificates and keys that `serve` and `client` use, written to
 * certs/. Pure JavaScript (scripts/check-kit/pki.ts), so no OpenSSL is needed
 * on any platform. Nothing here is ever committed: the folder ignores itself.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { createCertificateAuthority } from "../../scripts/check-kit/pki";
import type { LabSetup } from "../../scripts/lib/lab-hooks";

export const certsDir = path.join(__dirname, "certs");

const year = 365 * 24 * 3600_000;

export const setup: LabSetup["setup"] = async () => {
  // api-key.txt is written last: when it exists, the whole set does.
  if (fs.existsSync(path.join(certsDir, "api-key.txt"))) return;
  fs.mkdirSync(certsDir, { recursive: true });
  fs.writeFileSync(path.join(certsDir, ".gitignore"), "# Private keys: never commit them.\n*\n");
  const write = (name: string, contents: string | Buffer) => fs.writeFileSync(path.join(certsDir, name), contents, { mode: 0o600 });

  // The CA's own private key is never written: these certificates are all it will ever sign.
  const ca = await createCertificateAuthority("grpc-labs lab 05 local CA", year);
  write("ca.crt", ca.cert);
  const server = await ca.issue({ commonName: "localhost", hosts: ["localhost", "127.0.0.1", "::1"], usage: "server", validForMs: year });
  write("server.crt", server.cert);
  write("server.key", server.key);
  for (const name of ["alice", "bob"]) {
    const client = await ca.issue({ commonName: name, usage: "client", validForMs: year });
    write(`${name}.crt`, client.cert);
    write(`${name}.key`, client.key);
  }
  // The demo's token issuer signs JWTs (ES256) with this key; the server verifies them with the public half.
  const issuer = generateKeyPairSync("ec", { namedCurve: "P-256" });
  write("token-issuer.key", issuer.privateKey.export({ type: "pkcs8", format: "pem" }));
  write("token-issuer.pub", issuer.publicKey.export({ type: "spki", format: "pem" }));
  write("api-key.txt", `${randomBytes(24).toString("base64url")}\n`);
  return "Wrote a local CA, certificates for localhost and for the clients alice and bob, a token-signing key and an API key to labs/05-auth-tls/certs/ (git-ignored).";
};
