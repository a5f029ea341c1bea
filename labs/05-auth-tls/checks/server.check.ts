/**
 * Lab 05, steps 2 to 7: the learner's server, attacked and called by
 * reference clients. Steps 2 and 3 test serverCredentials() behind a server
 * the check implements; steps 4 to 7 test the learner's interceptor behind
 * TLS the check sets up, so each step stands on its own.
 */
import * as grpc from "@grpc/grpc-js";
import { expectEqual, expectCode, expectTrue, referenceClient, step, unaryOutcome, watchTimingSafeEqual } from "../../../scripts/check-kit";
import {
  authConfig,
  badTokens,
  bearerMetadata,
  type Caller,
  callerHeader,
  certificateEchoServer,
  claims,
  getFixtures,
  learnerServerCredentials,
  learnerVault,
  proto,
  type Secret,
  service,
  signToken,
  tlsClient,
} from "./vault";

const { OK, UNAVAILABLE, UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND } = grpc.status;

step(2, () => {
  it("serves TLS with its certificate: a client that trusts the lab CA gets an answer", async () => {
    const address = await certificateEchoServer(await learnerServerCredentials(false));
    expectCode(await unaryOutcome(await tlsClient(address), "whoAmI", {}), OK, "WhoAmI over TLS, from a client that trusts the lab CA");
  });

  it("refuses plaintext: a client without TLS gets no answer", async () => {
    const address = await certificateEchoServer(await learnerServerCredentials(false));
    const plaintext = referenceClient(proto, service, address);
    expectCode(await unaryOutcome(plaintext, "whoAmI", {}), UNAVAILABLE, "WhoAmI in plaintext to the TLS port");
  });
});

step(3, () => {
  it("accepts a client certificate from the lab CA and sees who it is", async () => {
    const { alice } = await getFixtures();
    const address = await certificateEchoServer(await learnerServerCredentials(true));
    const outcome = await unaryOutcome<Caller>(await tlsClient(address, alice), "whoAmI", {});
    expectCode(outcome, OK, "WhoAmI from alice, whose certificate comes from the lab CA");
    expectEqual(outcome.response?.subject, "alice", "the client certificate the server saw (its common name)");
  });

  it("refuses a client with no certificate", async () => {
    const { alice } = await getFixtures();
    const address = await certificateEchoServer(await learnerServerCredentials(true));
    expectCode(await unaryOutcome(await tlsClient(address, alice), "whoAmI", {}), OK, "WhoAmI from alice, with a certificate");
    expectCode(await unaryOutcome(await tlsClient(address), "whoAmI", {}), UNAVAILABLE, "WhoAmI from a TLS client with no certificate");
  });

  it("refuses a client certificate from another CA", async () => {
    const { alice, mallory } = await getFixtures();
    const address = await certificateEchoServer(await learnerServerCredentials(true));
    expectCode(await unaryOutcome(await tlsClient(address, alice), "whoAmI", {}), OK, "WhoAmI from alice, with a certificate");
    expectCode(await unaryOutcome(await tlsClient(address, mallory), "whoAmI", {}), UNAVAILABLE, "WhoAmI from mallory, whose certificate comes from another CA");
  });
});

step(4, () => {
  it("answers WhoAmI with the subject of the client certificate", async () => {
    const { alice, bob } = await getFixtures();
    const address = await learnerVault(await authConfig(), true);
    for (const [name, certificate] of [["alice", alice], ["bob", bob]] as const) {
      const outcome = await unaryOutcome<Caller>(await tlsClient(address, certificate), "whoAmI", {});
      expectCode(outcome, OK, `WhoAmI from ${name}'s certificate`);
      expectEqual(outcome.response, { subject: name, roles: [], method: "mtls" }, `WhoAmI from ${name}'s certificate`);
    }
  });

  it("refuses a caller with no certificate, token or API key with UNAUTHENTICATED", async () => {
    const address = await learnerVault(await authConfig());
    expectCode(await unaryOutcome(await tlsClient(address), "whoAmI", {}), UNAUTHENTICATED, "WhoAmI over TLS with no credentials");
  });

  it("ignores a caller header that the client sends itself", async () => {
    const { alice } = await getFixtures();
    const address = await learnerVault(await authConfig(), true);
    const forged = new grpc.Metadata();
    forged.set(callerHeader, JSON.stringify({ subject: "admin", roles: ["reader"], method: "jwt" }));
    const outcome = await unaryOutcome<Caller>(await tlsClient(address, alice), "whoAmI", {}, forged);
    expectCode(outcome, OK, `WhoAmI from alice with a forged ${callerHeader} header`);
    expectEqual(outcome.response?.subject, "alice", `the caller WhoAmI answered when alice also sent a forged ${callerHeader} header`);
  });
});

step(5, () => {
  it("accepts a valid token: WhoAmI answers its subject and roles", async () => {
    const address = await learnerVault(await authConfig());
    const token = await signToken(claims({ sub: "carol", roles: ["reader", "auditor"] }));
    const outcome = await unaryOutcome<Caller>(await tlsClient(address), "whoAmI", {}, bearerMetadata(`Bearer ${token}`));
    expectCode(outcome, OK, "WhoAmI with a valid token");
    expectEqual(outcome.response, { subject: "carol", roles: ["reader", "auditor"], method: "jwt" }, "WhoAmI with a valid token for carol");
  });

  it("takes only the strings of the roles claim, and no roles from a token without one", async () => {
    const address = await learnerVault(await authConfig());
    const mixed = await signToken(claims({ sub: "carol", roles: ["reader", 7, { admin: true }, "auditor"] }));
    const mixedOutcome = await unaryOutcome<Caller>(await tlsClient(address), "whoAmI", {}, bearerMetadata(`Bearer ${mixed}`));
    expectCode(mixedOutcome, OK, 'WhoAmI with a valid token whose roles claim is ["reader", 7, {"admin": true}, "auditor"]');
    expectEqual(mixedOutcome.response?.roles, ["reader", "auditor"], 'the roles WhoAmI answered for a roles claim of ["reader", 7, {"admin": true}, "auditor"] (its strings)');
    const none = await signToken(claims({ sub: "dave", roles: undefined }));
    const noneOutcome = await unaryOutcome<Caller>(await tlsClient(address), "whoAmI", {}, bearerMetadata(`Bearer ${none}`));
    expectCode(noneOutcome, OK, "WhoAmI with a valid token without a roles claim");
    expectEqual(noneOutcome.response, { subject: "dave", roles: [], method: "jwt" }, "WhoAmI with a valid token for dave without a roles claim");
  });

  it("parses the header strictly: a valid token with anything before or after it is refused with UNAUTHENTICATED", async () => {
    const address = await learnerVault(await authConfig());
    const token = await signToken(claims());
    for (const authorization of [`Token Bearer ${token}`, `Bearer ${token} extra`]) {
      const shown = authorization.replace(token, "<valid token>");
      expectCode(await unaryOutcome(await tlsClient(address), "whoAmI", {}, bearerMetadata(authorization)), UNAUTHENTICATED, `WhoAmI with authorization: ${shown}`);
    }
  });

  // One check per attack, named after it; the tokens are built when the check runs.
  const attacks = [
    "a header that is not a Bearer token",
    "a malformed token",
    "an expired token",
    "a token that is not valid yet (nbf in 10 minutes)",
    "a token from another issuer",
    "a token for another audience",
    "a token signed with another key",
    'an unsigned token ("alg": "none")',
    "a token signed with HS256 keyed by the issuer's public key (algorithm confusion)",
    "a valid token whose payload was edited to add roles",
    "a token that never expires (no exp)",
  ];
  for (const attack of attacks) {
    it(`refuses ${attack} with UNAUTHENTICATED`, async () => {
      const authorization = (await badTokens())[attack];
      expectTrue(authorization !== undefined, `the check has no token for "${attack}"`);
      const address = await learnerVault(await authConfig());
      expectCode(await unaryOutcome(await tlsClient(address), "whoAmI", {}, bearerMetadata(authorization!)), UNAUTHENTICATED, `WhoAmI with ${attack}`);
    });
  }
});

step(6, () => {
  it('answers GetSecret for a token with the role "reader"', async () => {
    const config = await authConfig();
    const address = await learnerVault(config);
    const token = await signToken(claims({ roles: ["reader"] }));
    const outcome = await unaryOutcome<Secret>(await tlsClient(address), "getSecret", { name: "db-password" }, bearerMetadata(`Bearer ${token}`));
    expectCode(outcome, OK, 'GetSecret("db-password") with the role "reader"');
    expectEqual(outcome.response, { name: "db-password", value: config.secrets["db-password"]! }, 'GetSecret("db-password")');
    const unknown = await unaryOutcome<Secret>(await tlsClient(address), "getSecret", { name: "no-such-secret" }, bearerMetadata(`Bearer ${token}`));
    expectCode(unknown, NOT_FOUND, 'GetSecret("no-such-secret"), a name the vault does not have, with the role "reader"');
  });

  it('refuses GetSecret with PERMISSION_DENIED to every caller without the role "reader"', async () => {
    // Another role, an empty list, no roles claim at all: a rule that only denies "a caller with other
    // roles" lets the last two in. One vault answers them all, after a caller that had the role.
    const address = await learnerVault(await authConfig());
    const reader = await signToken(claims({ roles: ["reader"] }));
    expectCode(await unaryOutcome(await tlsClient(address), "getSecret", { name: "db-password" }, bearerMetadata(`Bearer ${reader}`)), OK, 'GetSecret with the role "reader"');
    const denied: Array<[string, string[] | undefined]> = [
      ['roles ["auditor"]', ["auditor"]],
      ["roles []", []],
      ["no roles claim", undefined],
    ];
    for (const [what, roles] of denied) {
      const token = await signToken(claims({ roles }));
      const outcome = await unaryOutcome(await tlsClient(address), "getSecret", { name: "db-password" }, bearerMetadata(`Bearer ${token}`));
      expectCode(outcome, PERMISSION_DENIED, `GetSecret with a valid token with ${what}`);
    }
  });

  it('refuses GetSecret with PERMISSION_DENIED to a caller known only by its client certificate', async () => {
    const { alice } = await getFixtures();
    const address = await learnerVault(await authConfig(), true);
    const outcome = await unaryOutcome(await tlsClient(address, alice), "getSecret", { name: "db-password" });
    expectCode(outcome, PERMISSION_DENIED, "GetSecret from alice, with her client certificate and no token (an mTLS caller has no roles)");
  });

  it("still answers WhoAmI, which needs no role, to a token without roles", async () => {
    const address = await learnerVault(await authConfig());
    const token = await signToken(claims({ roles: [] }));
    expectCode(await unaryOutcome(await tlsClient(address), "whoAmI", {}, bearerMetadata(`Bearer ${token}`)), OK, "WhoAmI with a valid token and no roles");
  });
});

step(7, () => {
  const apiKeyMetadata = (key: string) => {
    const metadata = new grpc.Metadata();
    metadata.set("x-api-key", key);
    return metadata;
  };

  it("accepts a valid API key: WhoAmI answers the key's subject and roles", async () => {
    const config = await authConfig();
    const address = await learnerVault(config);
    const outcome = await unaryOutcome<Caller>(await tlsClient(address), "whoAmI", {}, apiKeyMetadata(config.apiKeys[0]!.key));
    expectCode(outcome, OK, "WhoAmI with a valid API key");
    expectEqual(outcome.response, { subject: "ci-bot", roles: ["reader"], method: "api-key" }, "WhoAmI with ci-bot's API key");
  });

  it("refuses a wrong key of the right length, and one of another length, with UNAUTHENTICATED", async () => {
    const config = await authConfig();
    const address = await learnerVault(config);
    const key = config.apiKeys[0]!.key;
    const wrong = { "a wrong key of the same length": `${key.slice(0, -1)}${key.endsWith("A") ? "B" : "A"}`, "a shorter key": key.slice(0, 8), "an empty key": "" };
    for (const [what, guess] of Object.entries(wrong)) {
      expectCode(await unaryOutcome(await tlsClient(address), "whoAmI", {}, apiKeyMetadata(guess)), UNAUTHENTICATED, `WhoAmI with ${what}`);
    }
  });

  it("compares keys in constant time: crypto.timingSafeEqual on inputs of equal length", async () => {
    const config = await authConfig();
    const address = await learnerVault(config);
    const comparisons = await watchTimingSafeEqual();
    await unaryOutcome(await tlsClient(address), "whoAmI", {}, apiKeyMetadata("short"));
    await unaryOutcome(await tlsClient(address), "whoAmI", {}, apiKeyMetadata(config.apiKeys[0]!.key));
    const comparedLengths = await comparisons.lengths();
    expectTrue(comparedLengths.length >= 2, "the server never called crypto.timingSafeEqual to compare an API key: === stops at the first wrong character, and its timing tells an attacker how much of a guess is right");
    expectTrue(
      comparedLengths.every(([a, b]) => a === b),
      `crypto.timingSafeEqual was called on inputs of different lengths (${JSON.stringify(comparedLengths)}): compare digests of the keys (SHA-256), which always have the same length`,
    );
  });
});
