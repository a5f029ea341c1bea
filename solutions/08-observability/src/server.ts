/**
 * Lab 08, your server: the Catalog service with its interceptors. The
 * handlers and the authentication interceptor are written for you; steps 2
 * to 6 add logging, metrics and tracing around them, in the right order.
 */
import * as grpc from "@grpc/grpc-js";
import type { TracerProvider } from "@opentelemetry/api";
import { type CatalogServer, CatalogService, type Item, PricesClient } from "../gen/shop/v1/catalog";
import { loggingInterceptor } from "./logging";
import { createServerMetrics, serveMetrics } from "./metrics";
import { clientTracingInterceptor, serverTracingInterceptor } from "./tracing";

export interface CatalogOptions {
  /** The Prices service GetItem and PriceWatch ask for prices. */
  pricesAddress: string;
  /** The bearer token every call must carry: `authorization: Bearer <token>`. */
  token: string;
  /** Where the log lines go: one JSON line per call. */
  log: (line: string) => void;
  /** The HTTP port of /metrics; 0 picks a free one. */
  metricsPort: number;
  /** Where spans go: the checks pass one that keeps them in memory. */
  tracerProvider: TracerProvider;
}

export interface RunningCatalog {
  server: grpc.Server;
  /** The port /metrics listens on (the real one when options.metricsPort was 0). */
  metricsPort: number;
  /** Stops the metrics server and closes the Prices client. */
  close(): Promise<void>;
}

export async function createCatalogServer(options: CatalogOptions): Promise<RunningCatalog> {
  const tracer = options.tracerProvider.getTracer("catalog");
  const metrics = createServerMetrics();
  // The order matters: the first interceptor is the outermost, the first to see a call and the last
  // to see its answer. Logging, metrics and tracing come before authentication, so they also see
  // the calls it refuses.
  const server = new grpc.Server({
    interceptors: [loggingInterceptor(options.log), metrics.interceptor, serverTracingInterceptor(tracer), authInterceptor(options.token)],
  });
  const prices = new PricesClient(options.pricesAddress, grpc.credentials.createInsecure(), { interceptors: [clientTracingInterceptor(tracer)] });
  server.addService(CatalogService, catalogHandlers(prices));
  const http = await serveMetrics(metrics.registry, options.metricsPort);
  const address = http.address();
  return {
    server,
    metricsPort: typeof address === "object" && address ? address.port : options.metricsPort,
    async close() {
      prices.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

/**
 * Refuses calls without `authorization: Bearer <token>` with UNAUTHENTICATED,
 * before any handler runs (lab 05 does this with JWTs).
 */
export function authInterceptor(token: string): grpc.ServerInterceptor {
  return (method, call) =>
    // Server reflection stays open, so grpcurl, Postman and Evans can list the services without the token.
    method.path.startsWith("/grpc.reflection.")
      ? new grpc.ServerInterceptingCall(call)
      : new grpc.ServerInterceptingCall(call, {
          start(next) {
            next({
              onReceiveMetadata(metadata, next) {
                if (metadata.get("authorization")[0] === `Bearer ${token}`) next(metadata);
                else call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: "missing or wrong bearer token" });
              },
            });
          },
        });
}

const nameOf = (sku: string) => `Item ${sku}`;
/** How long AddToCart takes to save a cart once the client has sent it. */
const saveMs = 50;

function catalogHandlers(prices: PricesClient): CatalogServer {
  /** The price of one sku from the Prices service, within the call's deadline when it has a parent call. */
  const priceOf = (sku: string, parent?: grpc.ServerUnaryCall<unknown, unknown>) =>
    new Promise<number>((resolve, reject) => {
      const options: grpc.CallOptions = parent ? { parent } : { deadline: Date.now() + 5000 };
      prices.getPrice({ sku }, new grpc.Metadata(), options, (error, price) => (error ? reject(error) : resolve(price.cents)));
    });

  return {
    getItem(call, callback) {
      const { sku } = call.request;
      if (!sku) return callback({ code: grpc.status.INVALID_ARGUMENT, details: "sku is required" });
      priceOf(sku, call).then(
        (cents) => callback(null, { sku, name: nameOf(sku), priceCents: cents }),
        (error: grpc.ServiceError) => callback({ code: error.code, details: error.details }),
      );
    },

    listItems(call) {
      const { count, intervalMs } = call.request;
      let sent = 0;
      const next = () => {
        if (call.cancelled) return;
        if (sent === count) return call.end();
        sent++;
        call.write({ sku: `sku-${sent}`, name: nameOf(`sku-${sent}`), priceCents: 100 * sent });
        setTimeout(next, intervalMs);
      };
      next();
    },

    addToCart(call, callback) {
      let lines = 0;
      let totalQuantity = 0;
      call.on("data", (line: { quantity: number }) => {
        lines++;
        totalQuantity += line.quantity;
      });
      // Saving the cart takes a moment; the answer comes after it.
      call.on("end", () => setTimeout(() => callback(null, { lines, totalQuantity }), saveMs));
    },

    priceWatch(call) {
      // Answers in order; ends once the client has half-closed and every answer is out.
      let answered: Promise<void> = Promise.resolve();
      call.on("data", ({ sku }: { sku: string }) => {
        const price = priceOf(sku);
        price.catch(() => undefined); // awaited in turn below; a failure ends the stream there
        answered = answered.then(async () => {
          const item: Item = { sku, name: nameOf(sku), priceCents: await price };
          call.write(item);
        });
      });
      call.on("end", () => {
        answered.then(
          () => call.end(),
          (error: grpc.ServiceError) => call.emit("error", { code: error.code, details: error.details }),
        );
      });
    },
  };
}
