/**
 * Lab 05, a second correct client: a TokenCache class behind the call
 * credentials, a checkServerIdentity that logs and then defers to Node's own
 * check, and async functions over util.promisify.
 */
import * as grpc from "@grpc/grpc-js";
import { checkServerIdentity } from "node:tls";
import { promisify } from "node:util";
import { type Caller, type Secret, VaultClient } from "../../solutions/05-auth-tls/gen/auth/v1/vault";

export interface ClientTls {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface AccessToken {
  token: string;
  expiresAt: Date;
}

export type TokenSource = () => Promise<AccessToken>;

export const refreshBeforeExpiryMs = 30_000;

class TokenCache {
  #token: AccessToken | undefined;
  constructor(private readonly source: TokenSource) {}

  async get(): Promise<string> {
    if (!this.#token || this.#token.expiresAt.getTime() - refreshBeforeExpiryMs <= Date.now()) this.#token = await this.source();
    return this.#token.token;
  }
}

export function createVaultClient(address: string, tls: ClientTls, tokens?: TokenSource): VaultClient {
  const channel = grpc.credentials.createSsl(tls.ca, tls.key ?? null, tls.cert ?? null, {
    // A hook may add checks, never remove Node's: its answer is the one that counts.
    checkServerIdentity: (host, certificate) => checkServerIdentity(host, certificate),
  });
  return new VaultClient(address, tokens ? grpc.credentials.combineChannelCredentials(channel, tokenCredentials(tokens)) : channel);
}

export function tokenCredentials(tokens: TokenSource): grpc.CallCredentials {
  const cache = new TokenCache(tokens);
  return grpc.credentials.createFromMetadataGenerator(async (_options, callback) => {
    let token: string;
    try {
      token = await cache.get();
    } catch (error) {
      return callback(error instanceof Error ? error : new Error(String(error)));
    }
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    callback(null, metadata);
  });
}

const options = () => ({ deadline: Date.now() + 5000 });

export async function whoAmI(client: VaultClient): Promise<Caller> {
  const call = promisify((done: (error: grpc.ServiceError | null, caller?: Caller) => void) => client.whoAmI({}, new grpc.Metadata(), options(), done));
  return (await call())!;
}

export async function getSecret(client: VaultClient, name: string): Promise<Secret> {
  const call = promisify((done: (error: grpc.ServiceError | null, secret?: Secret) => void) => client.getSecret({ name }, new grpc.Metadata(), options(), done));
  return (await call())!;
}
