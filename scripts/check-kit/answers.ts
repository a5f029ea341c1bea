import { CheckFailure } from "./assert";
import { subject } from "./subject";

/**
 * Counts the answers of unary and client-streaming handlers. grpc-js sends
 * the first callback of a call and silently drops any later one, so a handler
 * that answers twice looks right from the client. That is the classic bug of
 * a missing `return` after `callback(error)`: the handler goes on to do the
 * work it has just refused, and answers again. The subject counts every
 * handler's callbacks (scripts/subject/driver.ts) while a check watches.
 */
interface WatchedCall {
  method: string;
  /** Each answer as a status name: "OK", "INVALID_ARGUMENT", ... */
  answers: string[];
}

/**
 * Starts counting answers for the rest of the check. `expectAnsweredOnce()`
 * then waits for the handlers to finish and fails if a call was answered more
 * than once.
 */
export async function watchAnswers(): Promise<{ expectAnsweredOnce(graceMs?: number): Promise<void> }> {
  const running = await subject();
  await running.driver.watchAnswers!();
  return {
    async expectAnsweredOnce(graceMs = 100) {
      const calls = (await running.driver.answers!(graceMs)) as WatchedCall[];
      for (const call of Array.isArray(calls) ? calls : []) {
        const answers = Array.isArray(call.answers) ? call.answers.map(String) : [];
        if (answers.length > 1) {
          throw new CheckFailure(
            `your ${String(call.method)} handler answered one call ${answers.length} times (${answers.join(", then ")}): grpc-js sends only the first answer and drops the rest, so return right after callback(error)`,
          );
        }
      }
    },
  };
}
