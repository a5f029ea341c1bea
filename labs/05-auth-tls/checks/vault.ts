/**
 * The reference side of lab 05's checks: what the learner's files export,
 * throwaway certificates, keys and tokens made fresh for each run (never the
 * lab's certs/ folder), and how to start the learner's server and client.
 */
import * as grpc from "@grpc/grpc-js";
import { type JWTPayload, SignJWT, UnsecuredJWT } from "jose";
import { generateKeyPairSync, type KeyObject, randomBytes } from "node:crypto";
import { exportedFunction, fixture, listen, loadTarget, referenceClient, referenceServer } from "../../../scripts/check-kit";
import type { CertificateAuthority, KeyPairPem } from "../../../scripts/check-kit/pki";

export interface Caller {
  subject: string;
  roles: string[];
  method: string;
}
export interface Secret {
  name: string;
  value: string;
}
export interface ServerTls extends KeyPairPem {
  ca: Buffer;
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

/**
 * What the learner's src/server.ts must export. The checks call each function
 * in the process that runs the learner's code, so each resolves there.
 */
export interface ServerModule {
  serverCredentials(tls: ServerTls, requireClientCert: boolean): Promise<grpc.ServerCredentials>;
  createVaultServer(config: AuthConfig): Promise<grpc.Server>;
}

/** What the learner's src/client.ts must export (each function resolves where the learner's code runs). */
export interface ClientModule {
  createVaultClient(address: string, tls: ClientTls, tokens?: TokenSource): Promise<grpc.Client>;
  whoAmI(client: grpc.Client): Promise<Caller>;
  getSecret(client: grpc.Client, name: string): Promise<Secret>;
}

export const proto = "auth/v1/vault.proto";
export const service = "auth.v1.Vault";
/** The metadata key under which the starter's interceptor hands the caller to the handlers. */
export const callerHeader = "x-authenticated-caller";

/** Everything a run needs, made once per run: key generation is the slow part. */
export interface Fixtures {
  labCa: CertificateAuthority;
  /** The lab server's certificate: localhost and 127.0.0.1, from the lab CA. */
  server: KeyPairPem;
  /** From the lab CA, but for another host name. */
  serverForOtherHost: KeyPairPem;
  /** For localhost and 127.0.0.1, from another CA. */
  serverFromOtherCa: KeyPairPem;
  alice: KeyPairPem;
  bob: KeyPairPem;
  /** A client certificate from another CA. */
  mallory: KeyPairPem;
  tokenKeys: { publicKey: KeyObject; privateKey: KeyObject };
  otherTokenKeys: { publicKey: KeyObject; privateKey: KeyObject };
}

let fixtures: Promise<Fixtures> | undefined;

export function getFixtures(): Promise<Fixtures> {
  fixtures ??= (async () => {
    // Loaded here, in the first check, rather than with the checks: it takes a while to load.
    const { createCertificateAuthority } = require("../../../scripts/check-kit/pki") as typeof import("../../../scripts/check-kit/pki");
    const [labCa, otherCa] = await Promise.all([createCertificateAuthority("grpc-labs check CA"), createCertificateAuthority("Some other CA")]);
    const localhost = ["localhost", "127.0.0.1"];
    const [server, serverForOtherHost, serverFromOtherCa, alice, bob, mallory] = await Promise.all([
      labCa.issue({ commonName: "localhost", hosts: localhost, usage: "server" }),
      labCa.issue({ commonName: "vault.example.com", hosts: ["vault.example.com"], usage: "server" }),
      otherCa.issue({ commonName: "localhost", hosts: localhost, usage: "server" }),
      labCa.issue({ commonName: "alice", usage: "client" }),
      labCa.issue({ commonName: "bob", usage: "client" }),
      otherCa.issue({ commonName: "mallory", usage: "client" }),
    ]);
    const ec = () => generateKeyPairSync("ec", { namedCurve: "P-256" });
    return { labCa, server, serverForOtherHost, serverFromOtherCa, alice, bob, mallory, tokenKeys: ec(), otherTokenKeys: ec() };
  })();
  return fixtures;
}

async function labServerTls(): Promise<ServerTls> {
  const { labCa, server } = await getFixtures();
  return { ca: labCa.cert, ...server };
}

/** Server credentials made by the check, not the learner: TLS, and with `mutual` a required client certificate. */
async function referenceServerCredentials(mutual: boolean): Promise<grpc.ServerCredentials> {
  const { labCa, server } = await getFixtures();
  return grpc.ServerCredentials.createSsl(labCa.cert, [{ cert_chain: server.cert, private_key: server.key }], mutual);
}

/** A reference client over TLS that trusts the lab CA, presenting `certificate` when given. */
export async function tlsClient(address: string, certificate?: KeyPairPem): Promise<grpc.Client> {
  const { labCa } = await getFixtures();
  return referenceClient(proto, service, address, grpc.credentials.createSsl(labCa.cert, certificate?.key, certificate?.cert));
}

const issuer = "https://issuer.check.grpc-labs.test";
const audience = "vault";

/** The issuer's public key as a KeyObject where the learner's code runs (checks/token-key.fixture.ts); the key crosses as PEM. */
async function learnerTokenKey(publicKey: KeyObject): Promise<KeyObject> {
  const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
  const key = await fixture<{ keyObject(): Promise<KeyObject> }>("token-key.fixture.ts", "TokenKey", pem);
  return key.keyObject();
}

/** A fresh configuration for the learner's server: secret values and the API key are new each run. */
export async function authConfig(): Promise<AuthConfig> {
  const { tokenKeys } = await getFixtures();
  return {
    issuer,
    audience,
    tokenKey: await learnerTokenKey(tokenKeys.publicKey),
    apiKeys: [{ key: randomBytes(24).toString("base64url"), subject: "ci-bot", roles: ["reader"] }],
    secrets: { "db-password": randomBytes(9).toString("base64url") },
  };
}

const now = () => Math.floor(Date.now() / 1000);

/** The claims of a valid token for carol, with `changes` applied; a change to undefined removes the claim. */
export function claims(changes: JWTPayload = {}): JWTPayload {
  const payload: JWTPayload = { iss: issuer, aud: audience, sub: "carol", roles: ["reader"], iat: now(), exp: now() + 300, ...changes };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  return payload;
}

/** Signs `payload` with ES256, with the issuer's key unless another is given. */
export async function signToken(payload: JWTPayload, key?: KeyObject): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: "ES256" }).sign(key ?? (await getFixtures()).tokenKeys.privateKey);
}

/** The attacks on tokens: a bearer header each, built from a valid token's claims. */
export async function badTokens(): Promise<Record<string, string>> {
  const { tokenKeys, otherTokenKeys } = await getFixtures();
  const bearer = async (payload: JWTPayload, key?: KeyObject) => `Bearer ${await signToken(payload, key)}`;
  const [header, , signature] = (await signToken(claims({ roles: [] }))).split(".");
  const escalated = Buffer.from(JSON.stringify(claims({ roles: ["reader", "admin"] }))).toString("base64url");
  const publicPem = tokenKeys.publicKey.export({ type: "spki", format: "pem" });
  return {
    "a header that is not a Bearer token": `Basic ${Buffer.from("carol:hunter2").toString("base64")}`,
    "a malformed token": "Bearer not-a-jwt",
    "an expired token": await bearer(claims({ iat: now() - 3600, exp: now() - 600 })),
    "a token that is not valid yet (nbf in 10 minutes)": await bearer(claims({ nbf: now() + 600, exp: now() + 900 })),
    "a token from another issuer": await bearer(claims({ iss: "https://evil.example" })),
    "a token for another audience": await bearer(claims({ aud: "some-other-service" })),
    "a token signed with another key": await bearer(claims(), otherTokenKeys.privateKey),
    'an unsigned token ("alg": "none")': `Bearer ${new UnsecuredJWT(claims()).encode()}`,
    "a token signed with HS256 keyed by the issuer's public key (algorithm confusion)": `Bearer ${await new SignJWT(claims())
      .setProtectedHeader({ alg: "HS256" })
      .sign(Buffer.from(publicPem))}`,
    "a valid token whose payload was edited to add roles": `Bearer ${header}.${escalated}.${signature}`,
    "a token that never expires (no exp)": await bearer(claims({ exp: undefined })),
  };
}

export function bearerMetadata(authorization: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", authorization);
  return metadata;
}

export async function learnerServerModule(): Promise<ServerModule> {
  const file = "src/server.ts";
  const module = await loadTarget<ServerModule>(file);
  for (const name of ["serverCredentials", "createVaultServer"]) exportedFunction(module, name, file);
  return module;
}

/** The learner's serverCredentials(), for the lab's server certificate. */
export async function learnerServerCredentials(requireClientCert: boolean): Promise<grpc.ServerCredentials> {
  return (await learnerServerModule()).serverCredentials(await labServerTls(), requireClientCert);
}

/**
 * The address to dial a server the check started: by name, as the
 * certificates allow, since Node warns (DEP0123) when a TLS client sends an
 * IP address as the server name.
 */
function byName(address: string): string {
  return address.replace("127.0.0.1", "localhost");
}

/** The common name of the client certificate the TLS handshake verified, if any. */
function commonName(call: grpc.ServerUnaryCall<unknown, unknown>): string | undefined {
  return [call.getAuthContext().sslPeerCertificate?.subject.CN ?? []].flat()[0];
}

/** A server the check implements, bound with the learner's credentials: WhoAmI answers the client certificate's subject. */
export async function certificateEchoServer(credentials: grpc.ServerCredentials): Promise<string> {
  const address = await referenceServer(
    proto,
    service,
    {
      whoAmI(call: grpc.ServerUnaryCall<unknown, Caller>, callback: grpc.sendUnaryData<Caller>) {
        callback(null, { subject: commonName(call) ?? "", roles: [], method: "check" });
      },
    },
    credentials,
  );
  return byName(address);
}

/** The learner's Vault server with `config`, bound by the check over TLS (with `mutual`, requiring client certificates). */
export async function learnerVault(config: AuthConfig, mutual = false): Promise<string> {
  const server = await (await learnerServerModule()).createVaultServer(config);
  return byName(await listen(server, await referenceServerCredentials(mutual)));
}

export async function learnerClientModule(): Promise<ClientModule> {
  const file = "src/client.ts";
  const module = await loadTarget<ClientModule>(file);
  for (const name of ["createVaultClient", "whoAmI", "getSecret"]) exportedFunction(module, name, file);
  return module;
}

/**
 * The learner's client for `address`. It lives where the learner's code runs,
 * which closes it after the check; a token source the check passes is called
 * from there, and answers from here.
 */
export function learnerClient(learner: ClientModule, address: string, tls: ClientTls, tokens?: TokenSource): Promise<grpc.Client> {
  return learner.createVaultClient(address, tls, tokens);
}

/** What a recording server saw of one call. */
export interface RecordedCall {
  /** The method called: "WhoAmI" or "GetSecret". */
  method: string;
  /** The call's deadline (ms since the epoch), Infinity when the client set none. */
  deadline: number;
  /** GetSecret's request. */
  name?: string;
  authorization: string | undefined;
  /** The common name of the client certificate, if the client sent one. */
  certificate: string | undefined;
}

export const recordedAnswer: Caller = { subject: "answer from the recording server", roles: ["recorded"], method: "check" };
/** The recording server's answer to GetSecret(name). */
export const recordedSecret = (name: string): Secret => ({ name, value: `recorded value of ${name}` });

function recorded(method: string, call: grpc.ServerUnaryCall<unknown, unknown>): RecordedCall {
  const authorization = call.metadata.get("authorization")[0];
  const deadline = call.getDeadline();
  return { method, deadline: deadline instanceof Date ? deadline.getTime() : deadline, authorization: authorization === undefined ? undefined : String(authorization), certificate: commonName(call) };
}

/** A Vault server that records what each call carried; TLS with `certificate`, requiring a client certificate with `mutual`. */
export async function recordingVault(certificate: KeyPairPem, mutual = false): Promise<{ address: string; calls: RecordedCall[] }> {
  const { labCa } = await getFixtures();
  const calls: RecordedCall[] = [];
  const credentials = grpc.ServerCredentials.createSsl(labCa.cert, [{ cert_chain: certificate.cert, private_key: certificate.key }], mutual);
  const address = await referenceServer(
    proto,
    service,
    {
      whoAmI(call: grpc.ServerUnaryCall<unknown, Caller>, callback: grpc.sendUnaryData<Caller>) {
        calls.push(recorded("WhoAmI", call));
        callback(null, recordedAnswer);
      },
      getSecret(call: grpc.ServerUnaryCall<{ name: string }, Secret>, callback: grpc.sendUnaryData<Secret>) {
        calls.push({ ...recorded("GetSecret", call), name: call.request.name });
        callback(null, recordedSecret(call.request.name));
      },
    },
    credentials,
  );
  return { address: byName(address), calls };
}
