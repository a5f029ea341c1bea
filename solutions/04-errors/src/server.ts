/**
 * Lab 04, the reference Inventory server (steps 2 to 5).
 *
 * A failed call carries a status code, a message and trailing metadata. The
 * code is for programs: clients decide from it alone whether to fix the
 * request, retry or give up, so each kind of failure gets its own code. The
 * message is for the developer reading a log. Structured details for programs
 * (which field was wrong, when to retry) travel in the trailer
 * `grpc-status-details-bin` as a google.rpc.Status (step 5).
 *
 * Every unary handler here returns its response or throws; `answer` turns
 * that into exactly one callback, so no path can answer twice, and `toStatus`
 * decides in one place which code each kind of error gets.
 */
import * as grpc from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import type { Any } from "../gen/google/protobuf/any";
import { BadRequest, BadRequest_FieldViolation, ErrorInfo, RetryInfo } from "../gen/google/rpc/error_details";
import { Status } from "../gen/google/rpc/status";
import { type InventoryServer, InventoryService, type Item, type Reservation } from "../gen/inventory/v1/inventory";
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

/** An error that already is a gRPC status: grpc-js sends its code, details and metadata (the trailers) as they are. */
export class RpcError extends Error {
  readonly metadata = new grpc.Metadata();

  constructor(
    readonly code: grpc.status,
    readonly details: string,
    richDetails: Any[] = [],
  ) {
    super(details);
    if (richDetails.length > 0) {
      // The rich error model: a google.rpc.Status repeating code and message, plus
      // typed details packed in Any. Clients that do not read it still get code and message.
      const status = Status.encode({ code, message: details, details: richDetails }).finish();
      this.metadata.set("grpc-status-details-bin", Buffer.from(status));
    }
  }
}

/** Packs a detail message into Any: the type URL names its type, so a client knows how to decode it. */
function pack<T>(typeName: string, type: { encode(message: T): { finish(): Uint8Array } }, message: T): Any {
  return { typeUrl: `type.googleapis.com/${typeName}`, value: Buffer.from(type.encode(message).finish()) };
}

function inventoryHandlers({ catalog, warehouse, logger, rateLimit }: InventoryOptions): InventoryServer {
  const items = new Map(catalog.map((item) => [item.sku, { ...item, stock: 0 }]));
  const takeFromQuota = fixedWindow(rateLimit.limit, rateLimit.windowMs);

  /** Maps what a handler threw to the status the client gets (steps 3 and 4). */
  function toStatus(error: unknown): RpcError {
    if (error instanceof RpcError) return error;
    if (error instanceof WarehouseUnavailableError) {
      // Transient: the same call may work in a moment, so the client may retry.
      return new RpcError(grpc.status.UNAVAILABLE, "the warehouse is unavailable; try again later");
    }
    if (error instanceof OutOfStockError) {
      // The request is fine, the state is not: retrying as is will not help.
      const info = { reason: "OUT_OF_STOCK", domain: errorDomain, metadata: { sku: error.sku, available: `${error.available}`, requested: `${error.requested}` } };
      return new RpcError(grpc.status.FAILED_PRECONDITION, `only ${error.available} of ${error.sku} in stock`, [pack("google.rpc.ErrorInfo", ErrorInfo, info)]);
    }
    // Anything else is a bug. Its message may hold hostnames, queries or secrets:
    // log it in full here, and give the client only an id to quote.
    const errorId = randomUUID();
    logger.error(`internal error ${errorId}:`, error);
    const internal = new RpcError(grpc.status.INTERNAL, `internal error (id ${errorId})`);
    internal.metadata.set("x-error-id", errorId);
    return internal;
  }

  /** Answers a unary call exactly once: with what `body` returns, or with the status of what it throws. */
  function answer<Req, Res>(body: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      body(call).then(
        (response) => callback(null, response),
        (error: unknown) => callback(toStatus(error)),
      );
    };
  }

  function findItem(sku: string): Item {
    const item = items.get(sku);
    if (!item) throw new RpcError(grpc.status.NOT_FOUND, `no item with SKU "${sku}"`);
    return item;
  }

  return {
    getItem: answer(async (call) => {
      const item = findItem(call.request.sku);
      return { ...item, stock: await warehouse.stock(item.sku) };
    }),

    createItem: answer(async (call) => {
      // Who may call comes before what they sent: a caller without the right
      // learns nothing about the request or the data.
      if (call.metadata.get("x-role")[0] !== "admin") {
        throw new RpcError(grpc.status.PERMISSION_DENIED, "only admins can create items");
      }
      const item = call.request.item ?? { sku: "", name: "", priceCents: 0, stock: 0 };
      // Report every bad field at once, so the caller can fix them all in one go.
      const violations: BadRequest_FieldViolation[] = [];
      const violation = (field: string, description: string) => violations.push(BadRequest_FieldViolation.fromPartial({ field, description }));
      if (!skuPattern.test(item.sku)) violation("item.sku", "must be 3 to 20 capital letters, digits or dashes");
      if (item.name.trim() === "") violation("item.name", "must not be empty");
      if (item.priceCents <= 0) violation("item.price_cents", "must be positive");
      if (violations.length > 0) {
        const fields = violations.map((v) => v.field).join(", ");
        throw new RpcError(grpc.status.INVALID_ARGUMENT, `invalid item: ${fields}`, [pack("google.rpc.BadRequest", BadRequest, { fieldViolations: violations })]);
      }
      if (items.has(item.sku)) throw new RpcError(grpc.status.ALREADY_EXISTS, `an item with SKU "${item.sku}" already exists`);
      const created = { ...item, stock: 0 };
      items.set(created.sku, created);
      return created;
    }),

    // Server streaming: the items written before a failure reach the client;
    // the status that ends the stream tells it the list is incomplete.
    async listItems(call) {
      try {
        for (const item of [...items.values()].sort((a, b) => a.sku.localeCompare(b.sku))) {
          call.write({ ...item, stock: await warehouse.stock(item.sku) });
        }
        call.end();
      } catch (error) {
        call.emit("error", toStatus(error));
      }
    },

    reserveStock: answer(async (call): Promise<Reservation> => {
      const { sku, quantity } = call.request;
      const waitMs = takeFromQuota();
      if (waitMs > 0) {
        // RetryInfo tells a well-behaved client exactly how long to back off.
        const retryDelay = { seconds: `${Math.floor(waitMs / 1000)}`, nanos: (waitMs % 1000) * 1e6 };
        throw new RpcError(grpc.status.RESOURCE_EXHAUSTED, `at most ${rateLimit.limit} reservations every ${rateLimit.windowMs} ms`, [pack("google.rpc.RetryInfo", RetryInfo, { retryDelay })]);
      }
      if (quantity <= 0) {
        const badRequest = { fieldViolations: [BadRequest_FieldViolation.fromPartial({ field: "quantity", description: "must be positive" })] };
        throw new RpcError(grpc.status.INVALID_ARGUMENT, "quantity must be positive", [pack("google.rpc.BadRequest", BadRequest, badRequest)]);
      }
      findItem(sku);
      return { sku, quantity, remaining: await warehouse.take(sku, quantity) };
    }),
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
