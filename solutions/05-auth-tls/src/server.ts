/**
 * Lab 05, the reference Vault server (steps 2 to 7).
 *
 * Security happens in layers, each before the next:
 *   1. TLS (serverCredentials): the connection is encrypted and the server
 *      proves who it is; with mutual TLS, the client proves who it is too.
 *   2. Authentication (the interceptor): who is calling? A client certificate,
 *      a Bearer token or an API key; none of them, or a bad one: UNAUTHENTICATED.
 *   3. Authorization (the interceptor): may this caller call this method?
 *      No: PERMISSION_DENIED.
 *   4. The handlers, which only ever see authenticated, authorized calls.
 */
import * as grpc from "@grpc/grpc-js";
import { jwtVerify } from "jose";
import { createHash, type KeyObject, timingSafeEqual } from "node:crypto";
import { type Caller, type VaultServer, VaultService } from "../gen/auth/v1/vault";

/** The server's certificate and key, and the CA that client certificates must chain to (all PEM). */
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
  /** Tokens must come from this issuer ("iss") and be meant for this audience ("aud"). */
  issuer: string;
  audience: string;
  /** The issuer's public key: it verifies the tokens' ES256 signatures. */
  tokenKey: KeyObject;
  apiKeys: ApiKey[];
  secrets: Record<string, string>;
}

/** The metadata key the interceptor hands the authenticated caller to the handlers under. */
export const callerHeader = "x-authenticated-caller";

/** The role each method needs; a method not listed needs none, only an authenticated caller. */
const requiredRole: Record<string, string> = {
  [VaultService.getSecret.path]: "reader",
};

/** A failed check, with the status code the caller gets. */
class AuthError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

/** Steps 2 and 3: TLS with the server's certificate; with `requireClientCert`, mutual TLS. */
export function serverCredentials(tls: ServerTls, requireClientCert: boolean): grpc.ServerCredentials {
  // The CA is the one client certificates are verified against. With
  // requireClientCert, a client without a valid certificate from it fails the
  // TLS handshake: its calls never reach the server.
  return grpc.ServerCredentials.createSsl(tls.ca, [{ cert_chain: tls.cert, private_key: tls.key }], requireClientCert);
}

export function createVaultServer(config: AuthConfig): grpc.Server {
  // Server interceptors (grpc-js 1.10+) run for every call before its handler:
  // the one place to check credentials, so no handler can forget to.
  const server = new grpc.Server({ interceptors: [authInterceptor(config)] });
  server.addService(VaultService, vaultHandlers(config.secrets));
  return server;
}

function vaultHandlers(secrets: Record<string, string>): VaultServer {
  return {
    whoAmI(call, callback) {
      callback(null, JSON.parse(String(call.metadata.get(callerHeader)[0])) as Caller);
    },
    getSecret(call, callback) {
      const value = secrets[call.request.name];
      if (value === undefined) return callback({ code: grpc.status.NOT_FOUND, details: `there is no secret named "${call.request.name}"` });
      callback(null, { name: call.request.name, value });
    },
  };
}

function authInterceptor(config: AuthConfig): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          // The call's headers arrive first: hold them (and with them the
          // request) until the caller is known and allowed.
          onReceiveMetadata(metadata, forward) {
            authenticate(metadata, call, config)
              .then((caller) => authorize(caller, method.path))
              .then(
                (caller) => {
                  // set() replaces whatever a client sent under this key: only the interceptor speaks for the caller.
                  metadata.set(callerHeader, JSON.stringify(caller));
                  forward(metadata);
                },
                (error: unknown) => {
                  // Anything but an AuthError is a bug here: still refuse the call, and say so.
                  if (error instanceof AuthError) call.sendStatus({ code: error.code, details: error.message });
                  else call.sendStatus({ code: grpc.status.INTERNAL, details: `authentication failed: ${String(error)}` });
                },
              );
          },
        });
      },
    });
}

/** Who is calling: a token or an API key if the call carries one, else the client certificate. */
async function authenticate(metadata: grpc.Metadata, call: grpc.ServerInterceptingCallInterface, config: AuthConfig): Promise<Caller> {
  const authorization = metadata.get("authorization")[0];
  if (authorization !== undefined) return verifyBearer(String(authorization), config);
  const apiKey = metadata.get("x-api-key")[0];
  if (apiKey !== undefined) return checkApiKey(String(apiKey), config.apiKeys);
  return callerFromCertificate(call);
}

/** Step 4: the certificate the TLS handshake verified, if the client sent one. */
function callerFromCertificate(call: grpc.ServerInterceptingCallInterface): Caller {
  const subject = call.getAuthContext().sslPeerCertificate?.subject.CN;
  if (typeof subject !== "string") throw new AuthError(grpc.status.UNAUTHENTICATED, "send a client certificate, a Bearer token or an API key");
  return { subject, roles: [], method: "mtls" };
}

/** Step 5: a JWT, verified by jose: signature, algorithm, issuer, audience, expiry and not-before. */
async function verifyBearer(authorization: string, config: AuthConfig): Promise<Caller> {
  const token = /^Bearer (\S+)$/.exec(authorization)?.[1];
  if (!token) throw new AuthError(grpc.status.UNAUTHENTICATED, 'the authorization header must be "Bearer <token>"');
  const { payload } = await jwtVerify(token, config.tokenKey, {
    algorithms: ["ES256"], // only what the issuer signs with: never "none", never HS256 keyed with a public key
    issuer: config.issuer,
    audience: config.audience,
    requiredClaims: ["exp", "sub"], // a token that never expires is refused
  }).catch((error: unknown) => {
    throw new AuthError(grpc.status.UNAUTHENTICATED, `invalid token: ${error instanceof Error ? error.message : String(error)}`);
  });
  const roles = Array.isArray(payload.roles) ? payload.roles.filter((role): role is string => typeof role === "string") : [];
  return { subject: payload.sub ?? "", roles, method: "jwt" };
}

/** Step 6: a known caller may still not be allowed to call this method. */
function authorize(caller: Caller, methodPath: string): Caller {
  const role = requiredRole[methodPath];
  if (role && !caller.roles.includes(role)) throw new AuthError(grpc.status.PERMISSION_DENIED, `${methodPath} needs the role "${role}"`);
  return caller;
}

/** Step 7: an API key, compared in constant time. */
function checkApiKey(presented: string, apiKeys: ApiKey[]): Caller {
  // Comparing the keys themselves with === stops at the first differing
  // character, and the time it takes tells an attacker how much of a guess is
  // right. timingSafeEqual takes the same time whatever differs, but only on
  // equal lengths: compare SHA-256 digests, always 32 bytes.
  const digest = sha256(presented);
  const match = apiKeys.find((entry) => timingSafeEqual(sha256(entry.key), digest));
  if (!match) throw new AuthError(grpc.status.UNAUTHENTICATED, "unknown API key");
  return { subject: match.subject, roles: match.roles, method: "api-key" };
}

/** The SHA-256 digest of `text`: 32 bytes, whatever its length. */
function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
