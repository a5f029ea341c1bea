import * as grpc from "@grpc/grpc-js";
import { CheckFailure } from "./assert";
import { track } from "./resources";

/**
 * Counts the answers of unary and client-streaming handlers. grpc-js sends
 * the first callback of a call and silently drops any later one, so a handler
 * that answers twice looks right from the client. That is the classic bug of
 * a missing `return` after `callback(error)`: the handler goes on to do the
 * work it has just refused, and answers again. While a check watches, every
 * handler added with addService from then on has its callbacks counted.
 */
interface WatchedCall {
  method: string;
  /** Each answer as a status name: "OK", "INVALID_ARGUMENT", ... */
  answers: string[];
}

let watched: WatchedCall[] | undefined;
let running: Array<Promise<unknown>> = [];
let installed = false;

type Handler = (this: unknown, call: unknown, callback: grpc.sendUnaryData<unknown>) => unknown;
type MethodDefinition = { path?: string; originalName?: string; responseStream?: boolean };

function counting(method: string, handler: Handler, self: object): Handler {
  return function (call, callback) {
    if (!watched) return handler.call(self, call, callback);
    const record: WatchedCall = { method, answers: [] };
    watched.push(record);
    const result = handler.call(self, call, (error, ...rest) => {
      record.answers.push(error ? (grpc.status[error.code ?? grpc.status.UNKNOWN] ?? String(error.code)) : "OK");
      callback(error, ...rest);
    });
    if (result instanceof Promise) running.push(result.catch(() => undefined));
    return result;
  };
}

function install(): void {
  if (installed) return;
  installed = true;
  const addService = grpc.Server.prototype.addService;
  grpc.Server.prototype.addService = function (service, implementation) {
    const definitions = Object.entries(service as Record<string, MethodDefinition>);
    const wrapped: grpc.UntypedServiceImplementation = {};
    for (const [key, handler] of Object.entries(implementation)) {
      const definition = definitions.find(([name, d]) => name === key || d.originalName === key)?.[1];
      const answersOnce = typeof handler === "function" && definition !== undefined && !definition.responseStream;
      const method = definition?.path?.slice(definition.path.lastIndexOf("/") + 1) ?? key;
      wrapped[key] = answersOnce ? (counting(method, handler as Handler, implementation) as never) : handler;
    }
    return addService.call(this, service, wrapped);
  };
}

/**
 * Starts counting answers for the rest of the check; call it before the
 * server under test is created. `expectAnsweredOnce()` then waits for the
 * handlers to finish and fails if a call was answered more than once.
 */
export function watchAnswers(): { expectAnsweredOnce(graceMs?: number): Promise<void> } {
  install();
  watched = [];
  running = [];
  track(() => {
    watched = undefined;
    running = [];
  });
  return {
    async expectAnsweredOnce(graceMs = 100) {
      // An async handler may answer again after an await: wait for it, then a little more.
      await Promise.all(running);
      await new Promise((resolve) => setTimeout(resolve, graceMs));
      for (const call of watched ?? []) {
        if (call.answers.length > 1) {
          throw new CheckFailure(
            `your ${call.method} handler answered one call ${call.answers.length} times (${call.answers.join(", then ")}): grpc-js sends only the first answer and drops the rest, so return right after callback(error)`,
          );
        }
      }
    },
  };
}
