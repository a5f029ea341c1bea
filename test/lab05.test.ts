/**
 * Lab 05's checks catch the classic mistakes: each variant of the reference
 * solution below has one security hole, and the check about that attack (and
 * only checks of that step) must fail. (Different but correct solutions are in
 * test/alternatives.test.ts.)
 * And `serve` and `client` work over mutual TLS with the certificates `gen` made.
 */
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { findLab, workspaceRoot } from "../scripts/lib/labs";
import { checkVariant, type Edit, expectFailing, removeTrees } from "./trees";

const lab = findLab("05");
const server = "src/server.ts";
const client = "src/client.ts";

interface Hole {
  name: string;
  edits: Edit[];
  /** Prefixes of the ids of the checks that must fail; every other check must pass. */
  caughtBy: string[];
}

const holes: Hole[] = [
  {
    name: "server-no-client-cert",
    edits: [{ file: server, from: "[{ cert_chain: tls.cert, private_key: tls.key }], requireClientCert)", to: "[{ cert_chain: tls.cert, private_key: tls.key }], false)" }],
    caughtBy: ["s3."],
  },
  {
    name: "jwt-no-issuer-audience",
    edits: [{ file: server, from: /issuer: config\.issuer,\s*audience: config\.audience,/, to: "" }],
    caughtBy: ["s5.refuses-a-token-from-another-issuer", "s5.refuses-a-token-for-another-audience"],
  },
  {
    name: "jwt-exp-optional",
    edits: [{ file: server, from: 'requiredClaims: ["exp", "sub"]', to: 'requiredClaims: ["sub"]' }],
    caughtBy: ["s5.refuses-a-token-that-never-expires"],
  },
  {
    name: "jwt-decoded-not-verified",
    edits: [
      { file: server, from: 'import { jwtVerify } from "jose";', to: 'import { decodeJwt } from "jose";' },
      { file: server, from: /const \{ payload \} = await jwtVerify\([\s\S]*?\n {2}\}\);/, to: "const payload = decodeJwt(token);" },
    ],
    caughtBy: ["s5.refuses-"],
  },
  {
    name: "roles-not-checked",
    edits: [{ file: server, from: "if (role && !caller.roles.includes(role))", to: "if (role && !role)" }],
    caughtBy: ["s6.refuses-getsecret"],
  },
  {
    // "No roles" read as "nothing to check": an empty list, a token without the claim and an mTLS caller get in.
    name: "roles-checked-only-when-present",
    edits: [{ file: server, from: "if (role && !caller.roles.includes(role))", to: "if (role && caller.roles.length > 0 && !caller.roles.includes(role))" }],
    caughtBy: ["s6.refuses-getsecret-with-permission-denied-to-every-caller", "s6.refuses-getsecret-with-permission-denied-to-a-caller-known-only"],
  },
  {
    name: "caller-header-added-not-set",
    edits: [{ file: server, from: "metadata.set(callerHeader", to: "metadata.add(callerHeader" }],
    caughtBy: ["s4.ignores-a-caller-header"],
  },
  {
    name: "api-key-compared-with-equals",
    edits: [{ file: server, from: "apiKeys.find((entry) => timingSafeEqual(sha256(entry.key), digest))", to: "apiKeys.find((entry) => entry.key === presented && digest.length > 0)" }],
    caughtBy: ["s7.compares-keys-in-constant-time"],
  },
  {
    name: "api-key-raw-timing-safe-equal",
    edits: [{ file: server, from: "timingSafeEqual(sha256(entry.key), digest)", to: "timingSafeEqual(Buffer.from(entry.key), Buffer.from(presented))" }],
    caughtBy: ["s7.refuses-a-wrong-key", "s7.compares-keys-in-constant-time"],
  },
  {
    name: "client-any-server-name",
    edits: [{ file: client, from: "createSsl(tls.ca, tls.key, tls.cert)", to: "createSsl(tls.ca, tls.key, tls.cert, { checkServerIdentity: () => undefined })" }],
    caughtBy: ["s8.refuses-a-server-whose-certificate-from-the-lab-ca-names-another-host"],
  },
  {
    name: "client-trusts-anyone",
    edits: [{ file: client, from: "createSsl(tls.ca, tls.key, tls.cert)", to: "createSsl(tls.ca, tls.key, tls.cert, { rejectUnauthorized: false })" }],
    caughtBy: ["s8.refuses-"],
  },
  {
    name: "client-sends-without-token",
    edits: [{ file: client, from: "(error: Error) => callback(error)", to: "() => callback(null, new grpc.Metadata())" }],
    caughtBy: ["s9.fails-the-call"],
  },
  {
    name: "client-token-every-call",
    edits: [{ file: client, from: "(fresh ? Promise.resolve(current!) : tokens())", to: "tokens()" }],
    caughtBy: ["s10.reuses-a-token"],
  },
  {
    name: "client-token-forever",
    edits: [{ file: client, from: "current.expiresAt.getTime() - Date.now() > refreshBeforeExpiryMs", to: "current.expiresAt.getTime() > 0" }],
    caughtBy: ["s10.asks-for-a-new-token"],
  },
];

describe("lab 05 checks against insecure variants of the solution", function () {
  this.timeout(120_000);
  after(removeTrees);

  // A server hole and a client hole share a variant: the checks of one side never touch the other's file.
  const serverHoles = holes.filter((hole) => hole.edits.every((edit) => edit.file === server));
  const clientHoles = holes.filter((hole) => hole.edits.every((edit) => edit.file === client));
  assert.equal(serverHoles.length + clientHoles.length, holes.length);
  const variants = Array.from({ length: Math.max(serverHoles.length, clientHoles.length) }, (_, i) => [serverHoles[i], clientHoles[i]].filter((hole) => hole !== undefined));

  for (const pair of variants) {
    it(pair.map((hole) => `${hole.name} fails exactly ${hole.caughtBy.join(", ")}`).join("; "), async () => {
      const result = await checkVariant(lab, pair.map((hole) => hole.name).join("+"), pair.flatMap((hole) => hole.edits));
      expectFailing(result, pair.flatMap((hole) => hole.caughtBy));
    });
  }
});

describe("lab 05 serve and client", function () {
  this.timeout(60_000);
  const runner = path.join(workspaceRoot, "scripts", "lab.cjs");

  it("serves the solution over mutual TLS with the certificates of gen, and the client demo gets through it", async () => {
    const server = spawn(process.execPath, [runner, "05", "serve", "--solution", "--port", "0"], { cwd: workspaceRoot });
    try {
      const port = await new Promise<string>((resolve, reject) => {
        let stdout = "";
        server.stdout.on("data", (chunk: Buffer) => {
          stdout += chunk.toString();
          const match = /listening on localhost:(\d+) \(TLS\)/.exec(stdout);
          if (match) resolve(match[1]!);
        });
        server.on("exit", () => reject(new Error(`serve stopped: ${stdout}`)));
      });
      const client = spawn(process.execPath, [runner, "05", "client", "--solution", "--target", `localhost:${port}`], { cwd: workspaceRoot });
      let output = "";
      client.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      client.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      const code = await new Promise((resolve) => client.on("exit", resolve));
      assert.equal(code, 0, output);
      assert.match(output, /"subject":"alice","roles":\[\],"method":"mtls"/);
      assert.match(output, /"subject":"carol","roles":\["reader"\],"method":"jwt"/);
      assert.match(output, /correct horse battery staple/);
      assert.match(output, /PERMISSION_DENIED/);
    } finally {
      server.kill("SIGINT");
    }
  });
});
