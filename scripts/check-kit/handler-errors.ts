import * as grpc from "@grpc/grpc-js";
import { learnerLocation } from "./target";

/**
 * When a server handler throws, grpc-js tells the client only
 * "UNKNOWN: Unknown error". To show the learner the real exception and where
 * it was thrown, every handler added with addService while checks run is
 * wrapped; what it throws is recorded here and reported with the check.
 */
const recorded: string[] = [];
let report: ((message: string) => void) | undefined;

export function takeHandlerErrors(): string[] {
  return recorded.splice(0);
}

function record(method: string, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  const where = learnerLocation(error);
  const line = `your ${method} handler threw "${message}"${where ? ` at ${where}` : ""}`;
  recorded.push(line);
  report?.(line);
}

type Handler = (this: unknown, ...args: unknown[]) => unknown;

/** Records what a listener on the call (call.on("data", ...)) throws, too. */
function watchListeners(method: string, call: unknown): void {
  if (typeof call !== "object" || call === null || !("on" in call) || typeof call.on !== "function") return;
  const on = call.on as (event: string, listener: Handler) => unknown;
  (call as { on: typeof on }).on = function (this: unknown, event, listener) {
    return on.call(this, event, function (this: unknown, ...args: unknown[]) {
      try {
        return listener.apply(this, args);
      } catch (error) {
        record(method, error);
        throw error;
      }
    });
  };
}

function wrap(method: string, handler: Handler, self: object): Handler {
  return function (...args: unknown[]) {
    watchListeners(method, args[0]);
    try {
      const result = handler.apply(self, args);
      if (result instanceof Promise) result.catch((error: unknown) => record(method, error));
      return result;
    } catch (error) {
      record(method, error);
      throw error;
    }
  };
}

let installed = false;

/** Wraps handlers from now on; `onError`, if given, also hears of each exception as it happens. */
export function installHandlerErrorCapture(onError?: (message: string) => void): void {
  report = onError;
  if (installed) return;
  installed = true;
  const addService = grpc.Server.prototype.addService;
  grpc.Server.prototype.addService = function (service, implementation) {
    const wrapped: grpc.UntypedServiceImplementation = {};
    for (const [key, value] of Object.entries(implementation)) {
      const path = (service as Record<string, { path?: string } | undefined>)[key]?.path;
      const method = path ? path.slice(path.lastIndexOf("/") + 1) : key;
      wrapped[key] = typeof value === "function" ? (wrap(method, value as Handler, implementation) as never) : value;
    }
    return addService.call(this, service, wrapped);
  };
}
