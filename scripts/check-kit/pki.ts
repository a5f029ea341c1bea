/**
 * A small private PKI in pure JavaScript, no OpenSSL: a certificate authority
 * and the certificates it issues, with EC P-256 keys (generated in about a
 * millisecond, where RSA takes a good part of a second).
 *
 * @peculiar/x509 builds and signs the X.509 structures with Node's own WebCrypto
 * (globalThis.crypto).
 * It uses tsyringe, which needs the Reflect metadata API, hence reflect-metadata.
 * Loading both takes about 100 ms, so index.ts does not re-export this file:
 * import it as "scripts/check-kit/pki" where certificates are needed.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";

const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const hour = 3600_000;

/** A certificate and its private key, both PEM, as TLS options take them. */
export interface KeyPairPem {
  cert: Buffer;
  key: Buffer;
}

export interface CertificateAuthority {
  /** The CA's certificate (PEM): what clients and servers trust. */
  cert: Buffer;
  /** Issues a certificate signed by this CA. */
  issue(request: CertificateRequest): Promise<KeyPairPem>;
}

export interface CertificateRequest {
  commonName: string;
  /** Host names (DNS) and IP addresses the certificate is valid for: a server's names. */
  hosts?: string[];
  /** "server" (TLS server authentication) or "client" (mutual TLS). */
  usage: "server" | "client";
  /** Validity from now; one day unless given. */
  validForMs?: number;
}

function pem(label: string, der: ArrayBuffer): Buffer {
  const lines = Buffer.from(der).toString("base64").match(/.{1,64}/g) ?? [];
  return Buffer.from(`-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`);
}

function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"]) as Promise<webcrypto.CryptoKeyPair>;
}

const isIpAddress = (host: string) => /^[\d.]+$|:/.test(host);

/** Creates a new certificate authority, valid for `validForMs` (one day unless given). */
export async function createCertificateAuthority(name: string, validForMs = 24 * hour): Promise<CertificateAuthority> {
  const keys = await generateKeys();
  // A little in the past, so that a clock slightly behind still accepts the certificates.
  const notBefore = new Date(Date.now() - hour);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name}`,
    keys,
    notBefore,
    notAfter: new Date(Date.now() + validForMs),
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });

  return {
    cert: pem("CERTIFICATE", caCert.rawData),
    async issue({ commonName, hosts = [], usage, validForMs: leafValidity = validForMs }) {
      const leafKeys = await generateKeys();
      const extensions: x509.Extension[] = [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
      ];
      if (hosts.length > 0) {
        // Clients match the host they dialled against these names, never against the common name.
        extensions.push(new x509.SubjectAlternativeNameExtension(hosts.map((host) => ({ type: isIpAddress(host) ? "ip" : "dns", value: host }))));
      }
      const cert = await x509.X509CertificateGenerator.create({
        subject: `CN=${commonName}`,
        issuer: caCert.subject,
        publicKey: leafKeys.publicKey,
        signingKey: keys.privateKey,
        notBefore,
        notAfter: new Date(Date.now() + leafValidity),
        signingAlgorithm: algorithm,
        extensions,
      });
      return { cert: pem("CERTIFICATE", cert.rawData), key: pem("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", leafKeys.privateKey)) };
    },
  };
}
