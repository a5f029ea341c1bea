import * as grpc from "@grpc/grpc-js";
import { AsyncResource } from "node:async_hooks";

/**
 * When a server handler throws, grpc-js tells the client only
 * "UNKNOWN: Unknown error". To show the learner the real exception and where
 * it was thrown, every handler added with addService from now on is wrapped,
 * and `onError` hears of each exception as it happens. The subject installs it
 * (scripts/subject/driver.ts) and so does `serve`; it imports nothing of the
 * judge, so it can run in the subject.
 */
type Handler = (this: unknown, ...args: unknown[]) => unknown;
type Report = (method: string, error: unknown) => void;

/**
 * Reports what a listener on the call (call.on("data", ...)) throws, too. A
 * listener runs in the async context of the handler that added it (grpc-js
 * emits from its own), so what it does belongs to the same call.
 */
function watchListeners(method: string, call: unknown, report: Report): void {
  if (typeof call !== "object" || call === null || !("on" in call) || typeof call.on !== "function") return;
  const on = call.on as (event: string, listener: Handler) => unknown;
  (call as { on: typeof on }).on = function (this: unknown, event, listener) {
    return on.call(this, event, AsyncResource.bind(function (this: unknown, ...args: unknown[]) {
      try {
        return listener.apply(this, args);
      } catch (error) {
        report(method, error);
        throw error;
      }
    }));
  };
}

function wrap(method: string, handler: Handler, self: object, report: Report): Handler {
  return function (...args: unknown[]) {
    watchListeners(method, args[0], report);
    try {
      const result = handler.apply(self, args);
      if (result instanceof Promise) result.catch((error: unknown) => report(method, error));
      return result;
    } catch (error) {
      report(method, error);
      throw error;
    }
  };
}

/**
 * The handlers grpc-js will find in `implementation`, by the service's method
 * names, as grpc-js looks them up: own properties or inherited ones (the
 * methods of a class), under the method's name or its originalName.
 */
export function handlersOf(service: object, implementation: object): Array<[string, grpc.UntypedHandleCall]> {
  const found: Array<[string, grpc.UntypedHandleCall]> = [];
  for (const [name, definition] of Object.entries(service as Record<string, { originalName?: unknown } | undefined>)) {
    const handlers = implementation as Record<string, grpc.UntypedHandleCall | undefined>;
    const original = definition?.originalName;
    const handler = handlers[name] ?? (typeof original === "string" ? handlers[original] : undefined);
    // Bound, as grpc-js binds them: a method keeps its `this` once moved into a wrapper object.
    if (handler !== undefined) found.push([name, typeof handler === "function" ? (handler.bind(implementation) as grpc.UntypedHandleCall) : handler]);
  }
  return found;
}

let installed = false;

/**
 * Wraps handlers from now on. `onError` gets one sentence a thrown exception:
 * `your GetFeature handler threw "boom" at src/server.ts:12`, where
 * `locate(error)` gives the place ("" when unknown); it gets the error too.
 */
export function installHandlerErrorCapture(onError: (message: string, error: unknown) => void, locate: (error: unknown) => string): void {
  if (installed) return;
  installed = true;
  const report: Report = (method, error) => {
    const message = error instanceof Error ? error.message : String(error);
    const where = locate(error);
    onError(`your ${method} handler threw "${message}"${where ? ` at ${where}` : ""}`, error);
  };
  const addService = grpc.Server.prototype.addService;
  grpc.Server.prototype.addService = function (service, implementation) {
    const wrapped: grpc.UntypedServiceImplementation = {};
    for (const [key, value] of handlersOf(service, implementation)) {
      const path = (service as Record<string, { path?: string } | undefined>)[key]?.path;
      const method = path ? path.slice(path.lastIndexOf("/") + 1) : key;
      wrapped[key] = typeof value === "function" ? (wrap(method, value as Handler, implementation, report) as never) : value;
    }
    return addService.call(this, service, wrapped);
  };
}
