/**
 * Lab 05, the reference Vault client (steps 8 to 10).
 *
 * A gRPC client has two kinds of credentials:
 *   channel credentials  the connection: TLS, the CA that the server's
 *                        certificate must chain to, and our own certificate
 *                        for mutual TLS;
 *   call credentials     added to each call's metadata: here a Bearer token.
 * combineChannelCredentials joins them. grpc-js sends call credentials only
 * over a secure channel, so a token never travels in plaintext.
 */
import * as grpc from "@grpc/grpc-js";
import { type Caller, type Secret, VaultClient } from "../gen/auth/v1/vault";

/** The CA that the server's certificate must chain to, and our own certificate and key for mutual TLS (PEM). */
export interface ClientTls {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface AccessToken {
  token: string;
  expiresAt: Date;
}

/** Where tokens come from (an OAuth token endpoint, in real life). */
export type TokenSource = () => Promise<AccessToken>;

/** A token is renewed when less than this remains, so no call ever carries one that expires in flight. */
export const refreshBeforeExpiryMs = 30_000;

const callTimeoutMs = 5000;

/** Steps 8 and 9: a client on a TLS channel to `address`, sending a token from `tokens` on every call. */
export function createVaultClient(address: string, tls: ClientTls, tokens?: TokenSource): VaultClient {
  // The server's certificate must chain to tls.ca and name the host we dial;
  // never turn either check off, or anyone on the path can pose as the server.
  const channel = grpc.credentials.createSsl(tls.ca, tls.key, tls.cert);
  const credentials = tokens ? grpc.credentials.combineChannelCredentials(channel, tokenCredentials(tokens)) : channel;
  return new VaultClient(address, credentials);
}

/** Steps 9 and 10: call credentials that add `authorization: Bearer <token>`, reusing a token until it is about to expire. */
export function tokenCredentials(tokens: TokenSource): grpc.CallCredentials {
  let current: AccessToken | undefined;
  return grpc.credentials.createFromMetadataGenerator((_options, callback) => {
    const fresh = current && current.expiresAt.getTime() - Date.now() > refreshBeforeExpiryMs;
    (fresh ? Promise.resolve(current!) : tokens()).then(
      (token) => {
        current = token;
        const metadata = new grpc.Metadata();
        metadata.set("authorization", `Bearer ${token.token}`);
        callback(null, metadata);
      },
      // No token, no call: the call fails (UNAVAILABLE) instead of going out unauthenticated.
      (error: Error) => callback(error),
    );
  });
}

function deadline(): Date {
  return new Date(Date.now() + callTimeoutMs);
}

export function whoAmI(client: VaultClient): Promise<Caller> {
  return new Promise((resolve, reject) => {
    client.whoAmI({}, new grpc.Metadata(), { deadline: deadline() }, (error, caller) => (error ? reject(error) : resolve(caller)));
  });
}

export function getSecret(client: VaultClient, name: string): Promise<Secret> {
  return new Promise((resolve, reject) => {
    client.getSecret({ name }, new grpc.Metadata(), { deadline: deadline() }, (error, secret) => (error ? reject(error) : resolve(secret)));
  });
}
