/**
 * The reference side of lab 04's checks: message types as the checks see
 * them, a warehouse whose failures the check scripts, and how to start the
 * learner's server and client. The reference client and server use
 * @grpc/proto-loader, not the learner's stubs.
 */
import * as grpc from "@grpc/grpc-js";
import {
  CheckFailure,
  exportedFunction,
  fixture,
  listen,
  loadTarget,
  readRichStatus,
  referenceClient,
  referenceServer,
  type RichStatus,
  richStatusMetadata,
  settled,
  type StatusDetail,
  track,
} from "../../../scripts/check-kit";

export interface Item {
  sku: string;
  name: string;
  priceCents: number;
  stock: number;
}
export interface ReserveStockRequest {
  sku: string;
  quantity: number;
}
export interface Reservation {
  sku: string;
  quantity: number;
  remaining: number;
}

export const proto = "inventory/v1/inventory.proto";
export const service = "inventory.v1.Inventory";

/** The items every check's server starts with, and their stock in the scripted warehouse. */
export const catalog: Item[] = [
  { sku: "TEA-EARL", name: "Earl Grey, 100 g", priceCents: 845, stock: 0 },
  { sku: "MUG-RED", name: "Red mug", priceCents: 1250, stock: 0 },
  { sku: "KETTLE-2", name: "Kettle, 2 l", priceCents: 3999, stock: 0 },
  { sku: "CUP-07", name: "Espresso cup", priceCents: 590, stock: 0 },
];
export const stockLevels: Record<string, number> = { "TEA-EARL": 31, "MUG-RED": 7, "KETTLE-2": 0, "CUP-07": 3 };
/** The catalogue as ListItems must stream it: in SKU order, with stock. */
export const listedItems = [...catalog].sort((a, b) => a.sku.localeCompare(b.sku)).map((item) => ({ ...item, stock: stockLevels[item.sku]! }));

/** The metadata of a caller with the admin role, which CreateItem requires. */
export function asRole(role: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set("x-role", role);
  return metadata;
}

/** The warehouse interface of src/warehouse.ts. */
export interface Warehouse {
  stock(sku: string): Promise<number>;
  take(sku: string, quantity: number): Promise<number>;
}

/** The learner's src/warehouse.ts. Its classes are built where the learner's code runs: with construct(), or by the fixture. */
interface WarehouseModule {
  WarehouseUnavailableError: unknown;
  InMemoryWarehouse: unknown;
}

/** The learner's src/warehouse.ts, which the starter ships complete. */
export async function warehouseModule(): Promise<WarehouseModule> {
  const file = "src/warehouse.ts";
  const module = await loadTarget<WarehouseModule>(file);
  for (const name of ["WarehouseUnavailableError", "InMemoryWarehouse"]) exportedFunction(module, name, file);
  return module;
}

/**
 * A warehouse whose failures the check controls (checks/warehouse.fixture.ts):
 * from call number `call` on (1-based, counting stock() and take()), every
 * call fails, with a WarehouseUnavailableError unless told otherwise.
 * Otherwise it is the lab's own InMemoryWarehouse with the standard stock.
 */
export interface ScriptedWarehouse extends Warehouse {
  failFromCall(call: number, failure?: "unavailable" | { typeError: string }): Promise<void>;
}

/** A scripted warehouse, made in the learner's world from the learner's own warehouse module. */
export async function scriptedWarehouse(): Promise<ScriptedWarehouse> {
  return fixture<ScriptedWarehouse>("warehouse.fixture.ts", "ScriptedWarehouse", await warehouseModule(), stockLevels);
}

export interface ServerSetup {
  warehouse?: ScriptedWarehouse;
  rateLimit?: { limit: number; windowMs: number };
}

/** What the learner's server logged with logger.error, each call's arguments in order. */
export type LogRecord = unknown[][];

/** What the learner's src/server.ts must export. */
export interface InventoryOptions {
  catalog: Item[];
  warehouse: Warehouse;
  logger: Pick<Console, "error">;
  rateLimit: { limit: number; windowMs: number };
}

export async function createLearnerServer(options: InventoryOptions): Promise<grpc.Server> {
  const file = "src/server.ts";
  return exportedFunction<(options: InventoryOptions) => Promise<grpc.Server>>(await loadTarget(file), "createInventoryServer", file)(options);
}

/**
 * Starts the learner's server with the standard catalogue; returns a reference
 * client for it, and `logged()`, which resolves with what it logged so far.
 */
export async function learnerServer(setup: ServerSetup = {}): Promise<{ client: grpc.Client; warehouse: ScriptedWarehouse; logged(): Promise<LogRecord> }> {
  const warehouse = setup.warehouse ?? (await scriptedWarehouse());
  const records: LogRecord = [];
  const server = await createLearnerServer({
    catalog: catalog.map((item) => ({ ...item })),
    warehouse,
    logger: { error: (...args: unknown[]) => records.push(args) },
    rateLimit: setup.rateLimit ?? { limit: 1000, windowMs: 60000 },
  });
  const address = await listen(server);
  const logged = async () => {
    // The learner's logger.error calls travel apart from the gRPC answers: let those made so far arrive.
    await settled();
    return records;
  };
  return { client: referenceClient(proto, service, address), warehouse, logged };
}

/** The google.rpc.Status of a failed call, checked to repeat the call's code and message. */
export function richStatusOf(status: grpc.StatusObject, what: string): RichStatus {
  const rich = readRichStatus(status.metadata, what);
  if (!rich) throw new CheckFailure(`${what}: expected a google.rpc.Status in the grpc-status-details-bin trailer, found none`);
  if (rich.code !== status.code) throw new CheckFailure(`${what}: the google.rpc.Status has code ${rich.code}, but the call's status code is ${status.code}: they must be the same`);
  if (rich.message !== status.details) throw new CheckFailure(`${what}: the google.rpc.Status message "${rich.message}" differs from the call's message "${status.details}": they must be the same`);
  return rich;
}

/** The one detail of type `type` (e.g. "google.rpc.BadRequest") in a rich status, or a failure naming what was there. */
export function detailOf<T>(rich: RichStatus, type: string, what: string): T {
  const found = rich.details.filter((d) => d.type === type);
  if (found.length !== 1) {
    const types = rich.details.map((d) => d.type).join(", ") || "none";
    throw new CheckFailure(`${what}: expected one ${type} in the google.rpc.Status details, found ${found.length} (details: ${types})`);
  }
  return found[0]!.value as T;
}

/** What the learner's src/client.ts must export. */
export interface RetryPolicy {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  backoffMultiplier: number;
}
export interface ErrorDetails {
  fieldViolations: Array<{ field: string; description: string }>;
  errorInfo?: { reason: string; domain: string; metadata: Record<string, string> };
  retryDelayMs?: number;
}
/** The checks call each function in the process that runs the learner's code, so each resolves there. */
export interface ClientModule {
  createInventoryClient(address: string): Promise<grpc.Client>;
  errorDetails(error: grpc.ServiceError): Promise<ErrorDetails>;
  backoffMs(retry: number, policy: RetryPolicy, random?: () => number): Promise<number>;
  reserveStock(client: grpc.Client, request: ReserveStockRequest, policy: RetryPolicy): Promise<Reservation>;
}

export async function learnerClientModule(): Promise<ClientModule> {
  const file = "src/client.ts";
  const module = await loadTarget<ClientModule>(file);
  for (const name of ["createInventoryClient", "errorDetails", "backoffMs", "reserveStock"]) exportedFunction(module, name, file);
  return module;
}

/** Randomness in the learner's world (checks/random.fixture.ts): the learner's code calls it synchronously. */
interface PredictableRandom {
  constant(value: number): Promise<() => number>;
  pinMathRandom(value: number): Promise<void>;
  restore(): Promise<void>;
}

/** A random function that always returns `value`, for the learner's backoffMs(). */
export async function constantRandom(value: number): Promise<() => number> {
  const random = await fixture<PredictableRandom>("random.fixture.ts", "PredictableRandom");
  return random.constant(value);
}

/** Math.random() returns `value` in the learner's code until the check ends. */
export async function pinMathRandom(value: number): Promise<void> {
  const random = await fixture<PredictableRandom>("random.fixture.ts", "PredictableRandom");
  await random.pinMathRandom(value);
  track(() => void random.restore().catch(() => undefined));
}

/** How the scripted server answers one ReserveStock attempt. */
export type Answer = { reservation: Reservation } | { code: grpc.status; details?: StatusDetail[] };

/** One attempt the scripted server received: the request and when it arrived. */
export interface Attempt {
  request: ReserveStockRequest;
  at: number;
  /** The attempt's deadline (ms since the epoch), Infinity when the client set none. */
  deadline: number;
}

/**
 * A ReserveStock server that answers attempt n with `script[n]` (the last
 * entry repeats), and records every attempt; the learner's client calls it.
 */
export async function scriptedReserveServer(script: Answer[]): Promise<{ learner: ClientModule; client: grpc.Client; attempts: Attempt[] }> {
  const learner = await learnerClientModule();
  const attempts: Attempt[] = [];
  const address = await referenceServer(proto, service, {
    reserveStock(call: grpc.ServerUnaryCall<ReserveStockRequest, Reservation>, callback: grpc.sendUnaryData<Reservation>) {
      const deadline = call.getDeadline();
      attempts.push({ request: call.request, at: Date.now(), deadline: deadline instanceof Date ? deadline.getTime() : deadline });
      const answer = script[Math.min(attempts.length, script.length) - 1]!;
      if ("reservation" in answer) return callback(null, answer.reservation);
      callback(failure(answer.code, answer.details));
    },
  });
  // The learner's client lives with the learner's code, which closes it after the check.
  const client = await learner.createInventoryClient(address);
  return { learner, client, attempts };
}

/** A status error as a reference server sends it, with a google.rpc.Status when there are details. */
export function failure(code: grpc.status, details: StatusDetail[] = []): grpc.ServerErrorResponse {
  const message = `scripted ${grpc.status[code]}`;
  const metadata = details.length > 0 ? richStatusMetadata({ code, message, details }) : new grpc.Metadata();
  return Object.assign(new Error(message), { code, details: message, metadata });
}

/** A real ServiceError for `failure`, as a grpc-js client receives it over the wire. */
export async function receivedError(code: grpc.status, details: StatusDetail[] = []): Promise<grpc.ServiceError> {
  const address = await referenceServer(proto, service, {
    getItem(_call: unknown, callback: grpc.sendUnaryData<Item>) {
      callback(failure(code, details));
    },
  });
  const client = referenceClient(proto, service, address) as unknown as {
    getItem(request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null) => void): void;
  };
  return new Promise((resolve, reject) => {
    client.getItem({ sku: "ANY" }, new grpc.Metadata(), { deadline: Date.now() + 2000 }, (error) => (error ? resolve(error) : reject(new Error("the scripted call succeeded"))));
  });
}
