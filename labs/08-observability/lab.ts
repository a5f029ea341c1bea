/**
 * Lab 08's `serve` and `client` commands. `serve` runs your Catalog server
 * with a Prices service of its own on a free local port, prints your log
 * lines and a line per span as they end, and serves your /metrics on port
 * 9464 (a free port when that one is taken). `client` makes calls of every
 * kind through your client's interceptors, printing its log lines, plus a
 * call with no token and one for an item Prices does not know.
 */
import * as grpc from "@grpc/grpc-js";
import { hrTimeToMilliseconds } from "@opentelemetry/core";
import { BasicTracerProvider, type ReadableSpan, SimpleSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import { CheckFailure, exportedFunction, loadService, loadTarget } from "../../scripts/check-kit";
import type { LabHooks } from "../../scripts/lib/lab-hooks";
import { catalogService, learnerClientModule, pricesService, proto, type RunningCatalog } from "./checks/catalog";

/** The token `serve` expects and `client` sends. */
const token = "workshop-token";
const metricsPort = 9464; // the port OpenTelemetry's Prometheus exporter uses by default

/** Prints one line per ended span: kind, name, trace and span ids, parent, rpc.status_code. */
const printingExporter: SpanExporter = {
  export(spans: ReadableSpan[], done) {
    for (const span of spans) {
      const { traceId, spanId } = span.spanContext();
      const parent = span.parentSpanContext?.spanId ?? "(root)";
      const ms = hrTimeToMilliseconds(span.duration).toFixed(1);
      console.log(`  span ${span.kind === 1 ? "SERVER" : span.kind === 2 ? "CLIENT" : span.kind} ${span.name} trace=${traceId} span=${spanId} parent=${parent} rpc.status_code=${String(span.attributes["rpc.status_code"])} ${ms} ms`);
    }
    done({ code: 0 });
  },
  shutdown: async () => undefined,
};

/** A Prices service for `serve`: any sku costs 100 cents a character; "missing-*" is NOT_FOUND; "slow-<ms>" answers late. */
function startPrices(): Promise<{ address: string; server: grpc.Server }> {
  const server = new grpc.Server();
  server.addService(loadService(proto, pricesService).service, {
    getPrice(call: grpc.ServerUnaryCall<{ sku: string }, unknown>, callback: grpc.sendUnaryData<unknown>) {
      const { sku } = call.request;
      if (sku.startsWith("missing-")) return callback({ code: grpc.status.NOT_FOUND, details: `no price for ${sku}` });
      const answer = () => callback(null, { sku, cents: 100 * sku.length });
      if (sku.startsWith("slow-")) setTimeout(answer, Number(sku.slice(5)) || 0);
      else answer();
    },
  });
  return new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve({ address: `127.0.0.1:${port}`, server }))),
  );
}

let running: { catalog: RunningCatalog; prices: grpc.Server } | undefined;

export const hooks: LabHooks = {
  async createServer() {
    const file = "src/server.ts";
    const create = exportedFunction<(options: object) => Promise<RunningCatalog>>(await loadTarget(file), "createCatalogServer", file);
    const prices = await startPrices();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(printingExporter)] });
    const options = (port: number) => ({ pricesAddress: prices.address, token, log: (line: string) => console.log(`  log ${line}`), metricsPort: port, tracerProvider });
    let catalog: RunningCatalog;
    try {
      catalog = await create(options(metricsPort));
    } catch (error) {
      if ((error as { code?: string }).code !== "EADDRINUSE") throw error;
      catalog = await create(options(0));
    }
    running = { catalog, prices: prices.server };
    console.log(`Metrics: curl http://127.0.0.1:${catalog.metricsPort}/metrics   Calls need the header authorization: Bearer ${token}`);
    return catalog.server;
  },

  async shutdown(server) {
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    await running?.catalog.close();
    running?.prices.forceShutdown();
  },

  async runClientDemo(address, print, args) {
    if (args.length > 0) throw new CheckFailure(`lab 08's client takes no options, not "${args.join(" ")}"`);
    const learner = await learnerClientModule();
    const log = (line: unknown) => print(`  log ${String(line)}`);
    const client = await learner.createCatalogClient(address, { log, defaultDeadlineMs: 2000, token });
    const anonymous = await learner.createCatalogClient(address, { log, defaultDeadlineMs: 2000 });
    const attempt = async (what: string, work: () => Promise<unknown>) => {
      print(what);
      try {
        print(`  -> ${JSON.stringify(await work())}`);
      } catch (error) {
        const { code, details } = error as grpc.ServiceError;
        print(`  -> ${grpc.status[code] ?? "error"}: ${details ?? (error as Error).message}`);
      }
    };
    try {
      await attempt("GetItem apple:", () => learner.getItem(client, "apple"));
      await attempt("ListItems, 3 items:", () => learner.listItems(client, 3));
      await attempt("AddToCart, 2 lines:", () => learner.addToCart(client, [{ sku: "apple", quantity: 2 }, { sku: "pear", quantity: 1 }]));
      await attempt("PriceWatch apple, pear:", () => learner.priceWatch(client, ["apple", "pear"]));
      await attempt("GetItem missing-1 (Prices does not know it):", () => learner.getItem(client, "missing-1"));
      await attempt("GetItem slow-500 with a 200 ms deadline:", () => learner.getItem(client, "slow-500", 200));
      await attempt("GetItem urgent (a per-call interceptor):", () => learner.getItemUrgent(client, "apple"));
      await attempt("GetItem without a token:", () => learner.getItem(anonymous, "apple"));
      print(`Your server printed a log line and spans for each call; its counters are at /metrics (see serve's first line). Service: ${catalogService}.`);
    } finally {
      client.close();
      anonymous.close();
    }
  },
};
