/**
 * Lab 04, a second correct server: classic callback handlers that `return`
 * after every answer, a status built by a small function per kind of
 * failure, a sliding-window rate limit, and violations named by their
 * camelCase path (`item.priceCents`).
 */
import * as grpc from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import { BadRequest, BadRequest_FieldViolation, ErrorInfo, RetryInfo } from "../../solutions/04-errors/gen/google/rpc/error_details";
import { Status } from "../../solutions/04-errors/gen/google/rpc/status";
import { type InventoryServer, InventoryService, type Item } from "../../solutions/04-errors/gen/inventory/v1/inventory";
import { OutOfStockError, type Warehouse, WarehouseUnavailableError } from "../../solutions/04-errors/src/warehouse";

export interface InventoryOptions {
  catalog: Item[];
  warehouse: Warehouse;
  logger: Pick<Console, "error">;
  rateLimit: { limit: number; windowMs: number };
}

export const errorDomain = "inventory.example.com";
export const skuPattern = /^[A-Z0-9-]{3,20}$/;

export function createInventoryServer(options: InventoryOptions): grpc.Server {
  const server = new grpc.Server();
  server.addService(InventoryService, inventoryHandlers(options));
  return server;
}

type Detail = { typeName: string; bytes: Uint8Array };

/** A status with rich details in the grpc-status-details-bin trailer. */
function status(code: grpc.status, details: string, ...rich: Detail[]): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (rich.length) {
    const any = rich.map(({ typeName, bytes }) => ({ typeUrl: `type.googleapis.com/${typeName}`, value: Buffer.from(bytes) }));
    metadata.set("grpc-status-details-bin", Buffer.from(Status.encode({ code, message: details, details: any }).finish()));
  }
  return { code, details, metadata };
}

const badRequest = (message: string, violations: Array<[string, string]>) =>
  status(grpc.status.INVALID_ARGUMENT, message, {
    typeName: "google.rpc.BadRequest",
    bytes: BadRequest.encode({ fieldViolations: violations.map(([field, description]) => BadRequest_FieldViolation.fromPartial({ field, description })) }).finish(),
  });

function inventoryHandlers({ catalog, warehouse, logger, rateLimit }: InventoryOptions): InventoryServer {
  const items = new Map<string, Item>(catalog.map((item) => [item.sku, item]));
  const recent: number[] = [];

  /** 0 when a call may go ahead, else the milliseconds until the oldest call in the window leaves it. */
  function quotaWaitMs(): number {
    const now = Date.now();
    while (recent.length && recent[0]! <= now - rateLimit.windowMs) recent.shift();
    if (recent.length < rateLimit.limit) {
      recent.push(now);
      return 0;
    }
    return recent[0]! + rateLimit.windowMs - now;
  }

  function failure(error: unknown): Partial<grpc.StatusObject> {
    if (error instanceof WarehouseUnavailableError) return status(grpc.status.UNAVAILABLE, "the warehouse is down; retry later");
    if (error instanceof OutOfStockError) {
      const metadata = { sku: error.sku, available: String(error.available), requested: String(error.requested) };
      return status(grpc.status.FAILED_PRECONDITION, "not enough stock", {
        typeName: "google.rpc.ErrorInfo",
        bytes: ErrorInfo.encode({ reason: "OUT_OF_STOCK", domain: errorDomain, metadata }).finish(),
      });
    }
    const id = randomUUID();
    logger.error({ id, error });
    const internal = status(grpc.status.INTERNAL, `something went wrong; quote ${id}`);
    internal.metadata!.add("x-error-id", id);
    return internal;
  }

  return {
    getItem(call, callback) {
      const item = items.get(call.request.sku);
      if (!item) return callback(status(grpc.status.NOT_FOUND, `unknown SKU ${call.request.sku}`));
      warehouse.stock(item.sku).then(
        (stock) => callback(null, { ...item, stock }),
        (error: unknown) => callback(failure(error)),
      );
    },

    createItem(call, callback) {
      if (call.metadata.get("x-role").at(0) !== "admin") return callback(status(grpc.status.PERMISSION_DENIED, "admins only"));
      const { sku = "", name = "", priceCents = 0 } = call.request.item ?? {};
      const violations: Array<[string, string]> = [];
      if (!skuPattern.test(sku)) violations.push(["item.sku", "3 to 20 of A-Z, 0-9 and -"]);
      if (!name.trim()) violations.push(["item.name", "required"]);
      if (!(priceCents > 0)) violations.push(["item.priceCents", "must be more than 0"]);
      if (violations.length) return callback(badRequest(`bad fields: ${violations.map(([field]) => field).join(" ")}`, violations));
      if (items.has(sku)) return callback(status(grpc.status.ALREADY_EXISTS, `${sku} exists`));
      const item = { sku, name, priceCents, stock: 0 };
      items.set(sku, item);
      callback(null, item);
    },

    listItems(call) {
      const sorted = [...items.values()].sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0));
      const next = (index: number): void => {
        if (index === sorted.length) return void call.end();
        warehouse.stock(sorted[index]!.sku).then(
          (stock) => {
            call.write({ ...sorted[index]!, stock });
            next(index + 1);
          },
          (error: unknown) => call.emit("error", failure(error)),
        );
      };
      next(0);
    },

    reserveStock(call, callback) {
      const { sku, quantity } = call.request;
      const waitMs = quotaWaitMs();
      if (waitMs > 0) {
        const retryDelay = { seconds: String(Math.trunc(waitMs / 1000)), nanos: Math.round((waitMs % 1000) * 1e6) };
        return callback(status(grpc.status.RESOURCE_EXHAUSTED, "rate limited", { typeName: "google.rpc.RetryInfo", bytes: RetryInfo.encode({ retryDelay }).finish() }));
      }
      if (quantity < 1) return callback(badRequest("quantity must be at least 1", [["quantity", "at least 1"]]));
      if (!items.has(sku)) return callback(status(grpc.status.NOT_FOUND, `unknown SKU ${sku}`));
      warehouse.take(sku, quantity).then(
        (remaining) => callback(null, { sku, quantity, remaining }),
        (error: unknown) => callback(failure(error)),
      );
    },
  };
}
