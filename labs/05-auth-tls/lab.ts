/**
 * Lab 05's `serve` and `client` commands, with the certificates and keys that
 * `npm run lab 05 -- gen` wrote to certs/. The server requires mutual TLS; the
 * client demo plays a token issuer too, signing short-lived JWTs with the
 * issuer's private key, as an identity provider would.
 */
import * as grpc from "@grpc/grpc-js";
import { SignJWT } from "jose";
import { createPrivateKey, createPublicKey } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { CheckFailure } from "../../scripts/check-kit";
import type { LabHooks } from "../../scripts/lib/lab-hooks";
import { type AuthConfig, learnerClientModule, learnerServerModule, type TokenSource } from "./checks/vault";
import { certsDir } from "./setup";

const issuer = "https://issuer.lab05.grpc-labs.test";
const audience = "vault";

function readCert(name: string): Buffer {
  try {
    return fs.readFileSync(path.join(certsDir, name));
  } catch {
    throw new CheckFailure(`labs/05-auth-tls/certs/${name} is missing: run \`npm run lab 05 -- gen\` to create the lab's certificates and keys`);
  }
}

function demoConfig(): AuthConfig {
  return {
    issuer,
    audience,
    tokenKey: createPublicKey(readCert("token-issuer.pub")),
    apiKeys: [{ key: readCert("api-key.txt").toString().trim(), subject: "ci-bot", roles: ["reader"] }],
    secrets: { "db-password": "correct horse battery staple" },
  };
}

/** Tokens for `subject` with `roles`, valid for five minutes, as an identity provider would issue them. */
function issueTokens(subject: string, roles: string[]): TokenSource {
  const key = createPrivateKey(readCert("token-issuer.key"));
  return async () => {
    const expiresAt = new Date(Date.now() + 5 * 60_000);
    const token = await new SignJWT({ roles })
      .setProtectedHeader({ alg: "ES256" })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(subject)
      .setIssuedAt()
      .setExpirationTime(expiresAt)
      .sign(key);
    return { token, expiresAt };
  };
}

export const hooks: LabHooks = {
  createServer: async () => (await learnerServerModule()).createVaultServer(demoConfig()),

  serverCredentials: async () => (await learnerServerModule()).serverCredentials({ ca: readCert("ca.crt"), cert: readCert("server.crt"), key: readCert("server.key") }, true),

  async runClientDemo(address, print, args) {
    if (args.length > 0) throw new CheckFailure(`lab 05's client takes no options, not "${args.join(" ")}"`);
    const learner = await learnerClientModule();
    const tls = { ca: readCert("ca.crt"), cert: readCert("alice.crt"), key: readCert("alice.key") };
    const attempt = async (what: string, work: () => Promise<unknown>) => {
      try {
        print(`  ${what}: ${JSON.stringify(await work())}`);
      } catch (error) {
        const { code, details } = error as { code?: number; details?: string };
        if (typeof code !== "number") throw error;
        if (code === grpc.status.UNAVAILABLE) {
          // Either nothing listens there, or the TLS handshake failed: grpc-js says UNAVAILABLE for both.
          throw new CheckFailure(
            `${what} could not reach ${address} (${String(details).split("\n")[0]}): check that \`npm run lab 05 -- serve\` is running and that createVaultClient uses TLS with the lab's CA`,
          );
        }
        print(`  ${what}: ${grpc.status[code]} (${details})`);
      }
    };
    const clients = [
      ["With alice's client certificate only:", await learner.createVaultClient(address, tls)],
      ["With a token for carol, roles [reader]:", await learner.createVaultClient(address, tls, issueTokens("carol", ["reader"]))],
      ["With a token for dave, no roles:", await learner.createVaultClient(address, tls, issueTokens("dave", []))],
    ] as const;
    try {
      for (const [title, client] of clients) {
        print(title);
        await attempt("WhoAmI", () => learner.whoAmI(client));
        await attempt('GetSecret("db-password")', () => learner.getSecret(client, "db-password"));
      }
    } finally {
      for (const [, client] of clients) client.close();
    }
  },
};
