/**
 * grpc-js's own words for a failed call, made readable, and one sentence on
 * what to check. Pure and free of grpc-js, so the runner's report can use it
 * too: on a message built somewhere else, `explainMessage` adds what is
 * missing and changes nothing twice.
 */

/** Advice for the texts grpc-js and Node's TLS give when no connection could be made, most specific first. */
const connectionAdvice: Array<[RegExp, string]> = [
  [
    /wrong version number|packet length too long|http request/i,
    "one side speaks TLS and the other plaintext: a TLS server listens with grpc.ServerCredentials.createSsl(...) and its clients connect with grpc.credentials.createSsl(...)",
  ],
  [
    /certificate required|peer did not return a certificate/i,
    "the server asks for a client certificate (mutual TLS) and the client sent none: give grpc.credentials.createSsl(ca, key, cert) the client's key and certificate",
  ],
  [
    /ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames/i,
    "the server's certificate is not issued for the name the client connected to: use a host name the certificate lists, or its name in the grpc.ssl_target_name_override channel option",
  ],
  [
    /unable to verify the first certificate|self[- ]signed certificate|unable to get local issuer certificate|certificate verify failed|unknown ca|bad certificate|certificate has expired/i,
    "the certificate check failed: the client must trust the CA that issued the server's certificate (its PEM as the first argument of grpc.credentials.createSsl), and a server that checks clients must trust the CA of theirs",
  ],
  [/ECONNREFUSED/, "nothing listens at that address: is the server started, and on that port?"],
  [
    /No connection established|Failed to connect/i,
    "check the TLS settings of both sides (createSsl on both, or createInsecure on both), the certificates, and the target name",
  ],
];

/** Drops what does not help a learner from grpc-js's details: timestamps, empty resolution notes, OpenSSL's codes. */
export function cleanDetails(details: string): string {
  return details
    .replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)/g, "")
    .replace(/(?:Error: )?[0-9A-F]{8,}:error:[0-9A-F]+:SSL routines:[^:]*:([^:\n]+):[^\s:]*:\d+:(?:SSL alert number \d+)?\s*/g, "$1")
    .replace(/Last error: Error(?: \[[A-Z_]+\])?: /g, "Last error: ")
    .replace(/\.?\s*Resolution note:\s*(?=$|\))/g, "")
    .replace(/\s*\n\s*/g, " ")
    .trim();
}

/** One sentence on what to check for a failed call, or "" when grpc-js's words say enough. */
export function adviceFor(code: string, details: string): string {
  if (code !== "UNAVAILABLE") return "";
  return connectionAdvice.find(([pattern]) => pattern.test(details))?.[1] ?? "";
}

/** A call's status for a message: "UNAVAILABLE: No connection established. Last error: ...: what to check". */
export function describeStatus(code: string, details: string): string {
  const clean = cleanDetails(details);
  const advice = adviceFor(code, clean);
  return `${code}${clean ? `: ${clean}` : ""}${advice ? `: ${advice}` : ""}`;
}

/** The way grpc-js words an error it throws: "14 UNAVAILABLE: the server went away". */
const thrownCallError = /^(\d+) ([A-Z_]+): /;

const unhandled =
  'the call failed and nothing handled its error, so it was thrown: give every call you read a stream from a call.on("error", ...) listener that rejects your promise, and in a callback reject(error), never throw it';

/**
 * Adds what to check to a finished failure message that quotes grpc-js as is:
 * an error that was thrown because nothing handled it, or a connection
 * failure. Returns the message unchanged when it has nothing to add, or when
 * it has been explained already.
 */
export function explainMessage(message: string): string {
  const text = /No connection established|Resolution note|SSL routines/.test(message) ? cleanDetails(message) : message;
  const code = thrownCallError.exec(text)?.[2] ?? (/\bUNAVAILABLE\b/.test(text) ? "UNAVAILABLE" : "");
  const additions = [adviceFor(code, text), thrownCallError.test(text) ? unhandled : ""].filter((a) => a && !text.includes(a));
  return additions.length > 0 ? `${text}: ${additions.join("; and ")}` : text;
}
