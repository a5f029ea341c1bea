import * as grpc from "@grpc/grpc-js";
import { learnerLocation } from "./target";

/**
 * When a server handler throws, grpc-js tells the client only
 * "UNKNOWN: Unknown error". To show the learner the real exception and where
 * it was thrown, every handler added with addService while checks run is
 * wrapped; what it throws is recorded here and reported with the check.
 */
const recorded: string[] = [];

export function takeHandlerErrors(): string[] {
  return recorded.splice(0);
}

function record(method: string, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  const where = learnerLocation(error);
  recorded.push(`your ${method} handler threw "${message}"${where ? ` at ${where}` : ""}`);
}

type Handler = (this: unknown, ...args: unknown[]) => unknown;

function wrap(method: string, handler: Handler, self: object): Handler {
  return function (...args: unknown[]) {
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

export function installHandlerErrorCapture(): void {
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
