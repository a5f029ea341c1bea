/**
 * Lab 08, step 5: client interceptors. A client interceptor wraps every call
 * a client makes, of every kind: the place for what every call needs and no
 * caller should have to remember, such as a request id, a default deadline
 * and a log line with the outcome.
 *
 * They are options of the client's constructor ({ interceptors }), not
 * channel options. A call can pass its own list in its call options, but
 * that list REPLACES the client's: a per-call interceptor must bring the
 * client's along, or the call goes out without them.
 */
import * as grpc from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import { type Cart, type CartLine, CatalogClient, type Item } from "../gen/shop/v1/catalog";

export interface ClientOptions {
  /** Where the client's log lines go: one JSON line per call. */
  log: (line: string) => void;
  /** The deadline of a call whose caller set none, in milliseconds from the call. */
  defaultDeadlineMs: number;
  /** A bearer token for the server's authentication (the `client` demo sends `serve`'s); the checks pass none. */
  token?: string;
}

/** Adds `authorization: Bearer <token>` to every call: call credentials for a plaintext channel, written for you. */
function bearer(token: string): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set("authorization", `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

/** Adds `x-request-id` (a new UUID) to every call, unless the caller set one. */
function requestId(): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        if (metadata.get("x-request-id").length === 0) metadata.set("x-request-id", randomUUID());
        next(metadata, listener);
      },
    });
}

/** Gives a call without a deadline one `ms` from now; a caller's own deadline stands. */
function defaultDeadline(ms: number): grpc.Interceptor {
  return (options, nextCall) => new grpc.InterceptingCall(nextCall(options.deadline === undefined ? { ...options, deadline: Date.now() + ms } : options));
}

/** One JSON line per call once it ends: method, code (as seen by this client, local deadlines included), time, request id. */
function statusLog(log: (line: string) => void): grpc.Interceptor {
  return (options, nextCall) => {
    const started = performance.now();
    let id = "";
    return new grpc.InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        id = String(metadata.get("x-request-id")[0] ?? "");
        next(metadata, {
          onReceiveStatus(status, next) {
            const durationMs = Math.round((performance.now() - started) * 100) / 100;
            log(JSON.stringify({ method: options.method_definition.path, code: grpc.status[status.code], durationMs, requestId: id }));
            next(status);
          },
        });
      },
    });
  };
}

/** The client's interceptors, in order: the first is the outermost, so the log sees the request id and the deadline. */
export function clientInterceptors(options: ClientOptions): grpc.Interceptor[] {
  const auth = options.token === undefined ? [] : [bearer(options.token)];
  return [requestId(), defaultDeadline(options.defaultDeadlineMs), statusLog(options.log), ...auth];
}

/** The interceptors each client was made with, for calls that add their own. */
const interceptorsOf = new WeakMap<grpc.Client, grpc.Interceptor[]>();

export function createCatalogClient(address: string, options: ClientOptions): CatalogClient {
  const interceptors = clientInterceptors(options);
  const client = new CatalogClient(address, grpc.credentials.createInsecure(), { interceptors });
  interceptorsOf.set(client, interceptors);
  return client;
}

/** A per-call interceptor: adds `x-priority` to this one call. */
function priority(value: string): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set("x-priority", value);
        next(metadata, listener);
      },
    });
}

/** GetItem marked urgent. The call's list replaces the client's, so it carries the client's interceptors too. */
export function getItemUrgent(client: CatalogClient, sku: string): Promise<Item> {
  const interceptors = [...(interceptorsOf.get(client) ?? []), priority("urgent")];
  return new Promise((resolve, reject) => {
    client.getItem({ sku }, new grpc.Metadata(), { interceptors }, (error, item) => (error ? reject(error) : resolve(item)));
  });
}

// ---- The calls the demo and the checks make; written for you. None sets a deadline unless asked to. ----

export function getItem(client: CatalogClient, sku: string, deadlineMs?: number): Promise<Item> {
  const options: grpc.CallOptions = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
  return new Promise((resolve, reject) => {
    client.getItem({ sku }, new grpc.Metadata(), options, (error, item) => (error ? reject(error) : resolve(item)));
  });
}

export function listItems(client: CatalogClient, count: number): Promise<Item[]> {
  return new Promise((resolve, reject) => {
    const items: Item[] = [];
    const call = client.listItems({ count, intervalMs: 0 });
    call.on("data", (item: Item) => items.push(item));
    call.on("error", reject);
    call.on("end", () => resolve(items));
  });
}

export function addToCart(client: CatalogClient, lines: CartLine[]): Promise<Cart> {
  return new Promise((resolve, reject) => {
    const call = client.addToCart((error, cart) => (error ? reject(error) : resolve(cart!)));
    for (const line of lines) call.write(line);
    call.end();
  });
}

export function priceWatch(client: CatalogClient, skus: string[]): Promise<Item[]> {
  return new Promise((resolve, reject) => {
    const items: Item[] = [];
    const call = client.priceWatch();
    call.on("data", (item: Item) => items.push(item));
    call.on("error", reject);
    call.on("end", () => resolve(items));
    for (const sku of skus) call.write({ sku });
    call.end();
  });
}
