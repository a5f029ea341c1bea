/**
 * Lab 04, your Inventory server. Steps 2 to 5 each add one part of error handling.
 *
 * A failed call carries a status code, a message and trailing metadata. The
 * code is for programs: clients decide from it alone whether to fix the
 * request, retry or give up, so each kind of failure gets its own code. The
 * message is for the developer reading a log. Structured details for programs
 * (which field was wrong, when to retry) travel in the trailer
 * `grpc-status-details-bin` as a google.rpc.Status (step 5).
 *
 * A unary handler fails with callback({ code, details, metadata }); a
 * streaming handler with call.emit("error", { code, details, metadata }).
 * A call takes exactly one answer: `return` right after callback(error).
 */
import * as grpc from "@grpc/grpc-js";
import { type InventoryServer, InventoryService, type Item } from "../gen/inventory/v1/inventory";
import { OutOfStockError, type Warehouse, WarehouseUnavailableError } from "./warehouse";

export interface InventoryOptions {
  /** The items the server starts with. */
  catalog: Item[];
  /** Where stock levels come from; it can fail (see warehouse.ts). */
  warehouse: Warehouse;
  /** Where unexpected errors are logged in full (console in `serve`). */
  logger: Pick<Console, "error">;
  /** At most `limit` ReserveStock calls in each window of `windowMs`. */
  rateLimit: { limit: number; windowMs: number };
}

/** The ErrorInfo domain (step 5): who defines the `reason` values this server sends. */
export const errorDomain = "inventory.example.com";

/** A valid SKU: 3 to 20 capital letters, digits or dashes. */
export const skuPattern = /^[A-Z0-9-]{3,20}$/;

/** Builds the server; the runner binds it to a port (`npm run lab 04 -- serve`) and the checks to a free one. */
export function createInventoryServer(options: InventoryOptions): grpc.Server {
  const server = new grpc.Server();
  server.addService(InventoryService, inventoryHandlers(options));
  return server;
}

function inventoryHandlers({ catalog, warehouse, logger, rateLimit }: InventoryOptions): InventoryServer {
  // The catalogue, by SKU. Stock levels live in the warehouse, not here.
  const items = new Map(catalog.map((item) => [item.sku, item]));
  // Call takeFromQuota() once per ReserveStock call (step 3): it returns 0 when
  // the call may proceed, or the milliseconds until the next window.
  const takeFromQuota = fixedWindow(rateLimit.limit, rateLimit.windowMs);

  return {
    getItem(call, callback) {
      // TODO(step 2): answer with the item and its stock (await warehouse.stock(sku)), or NOT_FOUND.
      // TODO(step 3): a WarehouseUnavailableError becomes UNAVAILABLE.
      // TODO(step 4): any other error becomes INTERNAL with a generic message, logged with an id.
      callback({ code: grpc.status.UNIMPLEMENTED, details: "TODO(step 2): implement GetItem" });
    },

    createItem(call, callback) {
      // TODO(step 2): PERMISSION_DENIED unless the metadata x-role is "admin", then
      // INVALID_ARGUMENT naming every bad field, ALREADY_EXISTS, else store the item and answer with it.
      // TODO(step 5): the INVALID_ARGUMENT carries a google.rpc.BadRequest.
      callback({ code: grpc.status.UNIMPLEMENTED, details: "TODO(step 2): implement CreateItem" });
    },

    listItems(call) {
      // TODO(step 3): write every item in SKU order with its stock, then end the stream;
      // when the warehouse fails, end the stream with the failure's status instead.
      call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "TODO(step 3): implement ListItems" });
    },

    reserveStock(call, callback) {
      // TODO(step 2): INVALID_ARGUMENT for a quantity below 1, NOT_FOUND for an unknown SKU,
      // else await warehouse.take(sku, quantity); an OutOfStockError becomes FAILED_PRECONDITION.
      // TODO(step 3): RESOURCE_EXHAUSTED past the rate limit (takeFromQuota), UNAVAILABLE when the warehouse is down.
      // TODO(step 5): BadRequest, ErrorInfo and RetryInfo details.
      callback({ code: grpc.status.UNIMPLEMENTED, details: "TODO(step 2): implement ReserveStock" });
    },
  };
}

/** A fixed-window rate limiter: returns 0 when a call may proceed, or the milliseconds until the next window. */
export function fixedWindow(limit: number, windowMs: number): () => number {
  let windowStart = -Infinity;
  let used = 0;
  return () => {
    const now = Date.now();
    if (now - windowStart >= windowMs) {
      windowStart = now;
      used = 0;
    }
    if (used < limit) {
      used += 1;
      return 0;
    }
    return windowStart + windowMs - now;
  };
}
