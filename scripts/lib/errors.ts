/**
 * A problem the learner can fix: a wrong lab number, missing stubs, a port in
 * use. The CLI prints its message as one plain sentence, with no stack trace,
 * and exits with `exitCode` (2 for usage and setup errors).
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = "UserError";
  }
}
