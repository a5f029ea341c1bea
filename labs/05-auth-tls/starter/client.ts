/**
 * Lab 05, your Vault client. Steps 8 to 10 fill in the TODOs below.
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
  // TODO(step 8): a TLS channel that trusts tls.ca and presents tls.cert and tls.key when given.
  // TODO(step 9): when `tokens` is given, combine it with tokenCredentials(tokens).
  return new VaultClient(address, grpc.credentials.createInsecure());
}

/** Steps 9 and 10: call credentials that add `authorization: Bearer <token>`, reusing a token until it is about to expire. */
export function tokenCredentials(tokens: TokenSource): grpc.CallCredentials {
  // TODO(step 9): add `authorization: Bearer <token>` with a token from `tokens` to every call.
  // TODO(step 10): reuse the token until less than refreshBeforeExpiryMs remains.
  return grpc.credentials.createFromMetadataGenerator((_options, callback) => callback(new Error("TODO(step 9): send a token")));
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
