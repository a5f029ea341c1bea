/**
 * Lab 05, a second correct server: authentication as an ordered list of
 * authenticators (the first that recognises the call's credentials decides),
 * roles as a Set per method, API keys compared as HMACs under a random key,
 * and an interceptor built with ServerListenerBuilder and async/await.
 */
import * as grpc from "@grpc/grpc-js";
import { errors, jwtVerify } from "jose";
import { createHmac, type KeyObject, randomBytes, timingSafeEqual } from "node:crypto";
import { type Caller, type VaultServer, VaultService } from "../../solutions/05-auth-tls/gen/auth/v1/vault";

export interface ServerTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export interface ApiKey {
  key: string;
  subject: string;
  roles: string[];
}

export interface AuthConfig {
  issuer: string;
  audience: string;
  tokenKey: KeyObject;
  apiKeys: ApiKey[];
  secrets: Record<string, string>;
}

export const callerHeader = "x-authenticated-caller";

const rolesNeeded = new Map<string, Set<string>>([[VaultService.getSecret.path, new Set(["reader"])]]);

type Refusal = { code: grpc.status; details: string };
const unauthenticated = (details: string): Refusal => ({ code: grpc.status.UNAUTHENTICATED, details });

export function serverCredentials(tls: ServerTls, requireClientCert: boolean): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(tls.ca, [{ private_key: tls.key, cert_chain: tls.cert }], requireClientCert);
}

export function createVaultServer(config: AuthConfig): grpc.Server {
  const server = new grpc.Server({ interceptors: [authentication(config)] });
  const handlers: VaultServer = {
    whoAmI: (call, callback) => callback(null, JSON.parse(call.metadata.get(callerHeader)[0] as string) as Caller),
    getSecret: ({ request: { name } }, callback) =>
      Object.hasOwn(config.secrets, name) ? callback(null, { name, value: config.secrets[name]! }) : callback({ code: grpc.status.NOT_FOUND, details: "no such secret" }),
  };
  server.addService(VaultService, handlers);
  return server;
}

/** Each returns the caller, throws a refusal, or returns undefined when the call does not carry its kind of credential. */
type Authenticator = (metadata: grpc.Metadata, call: grpc.ServerInterceptingCallInterface, config: AuthConfig) => Promise<Caller | undefined> | Caller | undefined;

const bearer: Authenticator = async (metadata, _call, config) => {
  const [header] = metadata.get("authorization");
  if (header === undefined) return undefined;
  const [scheme, token, ...rest] = String(header).split(" ");
  if (scheme !== "Bearer" || !token || rest.length) throw unauthenticated("use the Bearer scheme");
  try {
    const { payload } = await jwtVerify(token, config.tokenKey, { algorithms: ["ES256"], issuer: config.issuer, audience: config.audience, requiredClaims: ["sub", "exp"] });
    return { subject: payload.sub!, roles: ([] as unknown[]).concat(payload.roles ?? []).filter((r): r is string => typeof r === "string"), method: "jwt" };
  } catch (error) {
    throw unauthenticated(error instanceof errors.JOSEError ? error.code : "bad token");
  }
};

const hmacKey = randomBytes(32);
const mac = (text: string) => createHmac("sha256", hmacKey).update(text).digest();

const apiKey: Authenticator = (metadata, _call, config) => {
  const [presented] = metadata.get("x-api-key");
  if (presented === undefined) return undefined;
  const presentedMac = mac(String(presented));
  let found: ApiKey | undefined;
  // Every key is compared, found or not: the time does not tell which one matched either.
  for (const entry of config.apiKeys) if (timingSafeEqual(mac(entry.key), presentedMac)) found = entry;
  if (!found) throw unauthenticated("bad API key");
  return { subject: found.subject, roles: [...found.roles], method: "api-key" };
};

const certificate: Authenticator = (_metadata, call) => {
  const peer = call.getAuthContext().sslPeerCertificate;
  const name = peer?.subject?.CN;
  return typeof name === "string" && name !== "" ? { subject: name, roles: [], method: "mtls" } : undefined;
};

const authenticators = [bearer, apiKey, certificate];

function authentication(config: AuthConfig): grpc.ServerInterceptor {
  return (method, call) => {
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata(async (metadata, next) => {
        try {
          let caller: Caller | undefined;
          for (const authenticate of authenticators) if ((caller = await authenticate(metadata, call, config))) break;
          if (!caller) throw unauthenticated("no credentials");
          const missing = [...(rolesNeeded.get(method.path) ?? [])].filter((role) => !caller!.roles.includes(role));
          if (missing.length) throw { code: grpc.status.PERMISSION_DENIED, details: `missing roles: ${missing.join(", ")}` } satisfies Refusal;
          metadata.set(callerHeader, JSON.stringify(caller));
          next(metadata);
        } catch (error) {
          const refusal = error as Partial<Refusal>;
          call.sendStatus(typeof refusal.code === "number" ? { code: refusal.code, details: refusal.details ?? "" } : { code: grpc.status.INTERNAL, details: "authentication failed" });
        }
      })
      .build();
    return new grpc.ServerInterceptingCall(call, { start: (next) => next(listener) });
  };
}
