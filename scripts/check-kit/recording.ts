import * as grpc from "@grpc/grpc-js";
import { CheckFailure, expectEqual, expectTrue, settledWithin } from "./assert";
import { rpcDeadlineMs } from "./rpc";
import { currentWire, type Wire } from "./wire";

/**
 * Helpers for checks of a learner's client: what a recording server saw of a
 * call, and how the learner's promise settled.
 */
export interface Recording<Req> {
  requests: Req[];
  /** The deadline the client set (ms since the epoch), Infinity when it set none, NaN before the call. */
  deadline: number;
}

/** The wire transcript of the check each recording belongs to: a handler may run outside the check's async context. */
const wires = new WeakMap<Recording<unknown>, Wire>();

export function record<Req>(): Recording<Req> {
  const recording: Recording<Req> = { requests: [], deadline: Number.NaN };
  const wire = currentWire();
  if (wire) wires.set(recording, wire);
  return recording;
}

/**
 * Notes the deadline of a call the recording server received. The call's
 * method is then one whose calls end: a learner's function that resolves
 * before the server ends one is told so (wire.ts), instead of what the check
 * asserted on a recording that was not complete yet.
 */
export function noteDeadline(recording: Recording<unknown>, call: { getDeadline(): grpc.Deadline; getPath(): string }): void {
  const deadline = call.getDeadline();
  recording.deadline = deadline instanceof Date ? deadline.getTime() : deadline;
  wires.get(recording)?.recorded(call.getPath());
}

export function expectDeadline(recording: Recording<unknown>, method: string): void {
  // NaN: no call had arrived when the check looked, so whether it had a deadline is not known.
  expectTrue(!Number.isNaN(recording.deadline), `no ${method} call had reached the server when the check looked at its deadline`);
  expectTrue(Number.isFinite(recording.deadline), `${method} was called without a deadline: pass { deadline } in the call options`);
}

/** For a call meant to stay open until cancelled (a watch, a chat): the client set no deadline. */
export function expectNoDeadline(recording: Recording<unknown>, method: string): void {
  expectTrue(!Number.isNaN(recording.deadline), `${method} never reached the server`);
  expectTrue(recording.deadline === Number.POSITIVE_INFINITY, `${method} had a deadline, which ends it when it passes: a call meant to stay open has none; cancel it instead`);
}

/** A grpc-js error to answer a call with, e.g. callback(serviceError(grpc.status.NOT_FOUND, "no such user")). */
export function serviceError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

/**
 * Expects the learner's promise to reject, within `ms` (the call deadline by
 * default), with a gRPC error carrying `code`: the call's own error, not a new
 * Error wrapping it. Returns the error for further checks.
 */
export async function expectRejection(work: Promise<unknown>, code: grpc.status, what: string, ms = rpcDeadlineMs): Promise<grpc.ServiceError> {
  const outcome = await settledWithin(work, ms, what);
  if (outcome.resolved) throw new CheckFailure(`${what}: expected it to reject with ${grpc.status[code]}, but it resolved with ${JSON.stringify(outcome.value)}`);
  const { error } = outcome;
  const received = (error as { code?: unknown }).code;
  if (typeof received !== "number") {
    throw new CheckFailure(`${what}: expected it to reject with the call's error (code ${grpc.status[code]}), got an error with no gRPC code: ${String((error as Error).message ?? error)}`);
  }
  expectEqual(grpc.status[received], grpc.status[code], `${what}: the code of the error it rejected with`);
  return error as grpc.ServiceError;
}
