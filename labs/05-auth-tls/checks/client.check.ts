/**
 * Lab 05, steps 8 to 10: the learner's client, calling recording servers the
 * check controls, some of them impostors. Each check asserts what the server
 * saw of the call (a client certificate, the token), or that an impostor saw
 * nothing at all.
 */
import * as grpc from "@grpc/grpc-js";
import { CheckFailure, expectEqual, expectTrue, rpcDeadlineMs, settledWithin, step, within } from "../../../scripts/check-kit";
import { type AccessToken, getFixtures, learnerClient, learnerClientModule, recordedAnswer, recordedSecret, recordingVault, type TokenSource } from "./vault";

/** Time allowed for the learner's function to settle; the recording server always answers at once. */
const settleMs = rpcDeadlineMs + 1000;

/** Waits for the learner's call, which must succeed; a failed call becomes one sentence. */
async function succeeds<T>(work: Promise<T>, what: string): Promise<T> {
  try {
    return await within(work, settleMs, what);
  } catch (error) {
    const { code, details } = error as { code?: unknown; details?: string };
    if (typeof code !== "number") throw error;
    throw new CheckFailure(`${what} failed with ${grpc.status[code]}: ${String(details).split("\n")[0]}`);
  }
}

/** Expects the learner's call to fail: the client refused the server. */
async function expectRefused(work: Promise<unknown>, what: string): Promise<void> {
  const outcome = await settledWithin(work, settleMs, what);
  if (outcome.resolved) throw new CheckFailure(`${what}: expected the client to refuse the server, but the call succeeded with ${JSON.stringify(outcome.value)}`);
}

/** A token source that counts its calls; each token lives `lifetimeMs`. */
function countingSource(lifetimeMs: number): { source: TokenSource; issued: string[] } {
  const issued: string[] = [];
  const source = async (): Promise<AccessToken> => {
    const token = `token-${issued.length + 1}-${Math.random().toString(36).slice(2)}`;
    issued.push(token);
    return { token, expiresAt: new Date(Date.now() + lifetimeMs) };
  };
  return { source, issued };
}

const minute = 60_000;

step(8, () => {
  it("calls over TLS, trusting the lab CA, and returns the server's answer", async () => {
    const { labCa, server } = await getFixtures();
    const learner = await learnerClientModule();
    const vault = await recordingVault(server);
    const caller = await succeeds(learner.whoAmI(await learnerClient(learner, vault.address, { ca: labCa.cert })), "whoAmI() over TLS");
    expectEqual(caller, recordedAnswer, "what whoAmI() returned");
  });

  it("getSecret() sends the name and returns the server's secret, and every call has a deadline", async () => {
    const { labCa, server } = await getFixtures();
    const learner = await learnerClientModule();
    const vault = await recordingVault(server);
    const client = await learnerClient(learner, vault.address, { ca: labCa.cert });
    const secret = await succeeds(learner.getSecret(client, "db-password"), 'getSecret("db-password")');
    expectEqual(secret, recordedSecret("db-password"), 'what getSecret("db-password") returned');
    await succeeds(learner.whoAmI(client), "whoAmI()");
    expectEqual(vault.calls.map((c) => [c.method, c.name]), [["GetSecret", "db-password"], ["WhoAmI", undefined]], "[method, name] of the calls the server received");
    for (const call of vault.calls) expectTrue(Number.isFinite(call.deadline), `${call.method} was called without a deadline: pass { deadline } in the call options`);
  });

  for (const [impostor, certificate] of [
    ["a server whose certificate comes from another CA", "serverFromOtherCa"],
    ["a server whose certificate, from the lab CA, names another host (vault.example.com)", "serverForOtherHost"],
  ] as const) {
    it(`refuses ${impostor}`, async () => {
      const fixtures = await getFixtures();
      const learner = await learnerClientModule();
      const genuine = await recordingVault(fixtures.server);
      await succeeds(learner.whoAmI(await learnerClient(learner, genuine.address, { ca: fixtures.labCa.cert })), "whoAmI() against the genuine server");
      const fake = await recordingVault(fixtures[certificate]);
      await expectRefused(learner.whoAmI(await learnerClient(learner, fake.address, { ca: fixtures.labCa.cert })), `whoAmI() against ${impostor}`);
      expectEqual(fake.calls.length, 0, `calls that reached ${impostor}`);
    });
  }

  it("presents its client certificate when it has one (mutual TLS)", async () => {
    const { labCa, server, alice } = await getFixtures();
    const learner = await learnerClientModule();
    const vault = await recordingVault(server, true);
    await succeeds(learner.whoAmI(await learnerClient(learner, vault.address, { ca: labCa.cert, ...alice })), "whoAmI() with alice's certificate");
    expectEqual(vault.calls[0]?.certificate, "alice", "the client certificate the server saw (its common name)");
  });
});

step(9, () => {
  it("sends authorization: Bearer <token> from the token source on every call", async () => {
    const { labCa, server } = await getFixtures();
    const learner = await learnerClientModule();
    const vault = await recordingVault(server);
    const tokens = countingSource(10 * minute);
    const client = await learnerClient(learner, vault.address, { ca: labCa.cert }, tokens.source);
    for (let i = 0; i < 2; i++) await succeeds(learner.whoAmI(client), "whoAmI() with a token source");
    expectTrue(tokens.issued.length > 0, "the client never asked the token source for a token");
    expectEqual(
      vault.calls.map((call) => call.authorization),
      [`Bearer ${tokens.issued[0]}`, `Bearer ${tokens.issued.at(-1)}`],
      "the authorization metadata of two calls",
    );
  });

  it("fails the call, rather than send it without a token, when the token source fails", async () => {
    const { labCa, server } = await getFixtures();
    const learner = await learnerClientModule();
    const vault = await recordingVault(server);
    const working = countingSource(10 * minute);
    await succeeds(learner.whoAmI(await learnerClient(learner, vault.address, { ca: labCa.cert }, working.source)), "whoAmI() with a working token source");
    expectEqual(vault.calls.length, 1, "calls that reached the server with a working token source");
    const failing: TokenSource = () => Promise.reject(new Error("the identity provider is down"));
    await expectRefused(learner.whoAmI(await learnerClient(learner, vault.address, { ca: labCa.cert }, failing)), "whoAmI() when the token source fails");
    expectEqual(vault.calls.length, 1, "calls that reached the server, counting the one made when the token source failed");
  });
});

step(10, () => {
  it("reuses a token that is far from expiry: one token for three calls", async () => {
    const { labCa, server } = await getFixtures();
    const learner = await learnerClientModule();
    const vault = await recordingVault(server);
    const tokens = countingSource(10 * minute);
    const client = await learnerClient(learner, vault.address, { ca: labCa.cert }, tokens.source);
    for (let i = 0; i < 3; i++) await succeeds(learner.whoAmI(client), "whoAmI() with a token valid for 10 minutes");
    expectEqual(tokens.issued.length, 1, "tokens asked of the source for three calls, with a token valid for 10 minutes");
    expectEqual(vault.calls.map((call) => call.authorization), Array(3).fill(`Bearer ${tokens.issued[0]}`), "the authorization metadata of three calls");
  });

  it("asks for a new token when the current one is about to expire (less than 30 s left)", async () => {
    const { labCa, server } = await getFixtures();
    const learner = await learnerClientModule();
    const vault = await recordingVault(server);
    const tokens = countingSource(20_000);
    const client = await learnerClient(learner, vault.address, { ca: labCa.cert }, tokens.source);
    for (let i = 0; i < 2; i++) await succeeds(learner.whoAmI(client), "whoAmI() with tokens valid for 20 s");
    expectEqual(tokens.issued.length, 2, "tokens asked of the source for two calls, each token valid for only 20 s");
    expectEqual(vault.calls.at(-1)?.authorization, `Bearer ${tokens.issued[1]}`, "the authorization metadata of the second call");
  });
});
