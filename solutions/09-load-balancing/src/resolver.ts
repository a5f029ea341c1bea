/**
 * Lab 09, the reference name resolver (step 4).
 *
 * A channel turns its target into addresses with a resolver, chosen by the
 * target's scheme: dns:, ipv4:, unix: are built in. This one handles
 * registry://127.0.0.1:8500/orders: it asks the registry at 127.0.0.1:8500
 * where "orders" runs, and keeps asking. Every time the answer changes it
 * hands the channel the new list, and the load-balancing policy connects to
 * backends that joined and drops those that left.
 *
 * grpc-js's resolver API is experimental (grpc.experimental): it changed in
 * 1.14, when the listener became one function. This file is written for the
 * version the workshop pins in package.json.
 */
import * as grpc from "@grpc/grpc-js";
import { type ListResponse, RegistryClient } from "../gen/lb/v1/registry";

type Resolver = grpc.experimental.Resolver;
type ResolverListener = grpc.experimental.ResolverListener;
type GrpcUri = grpc.experimental.GrpcUri;

class RegistryResolver implements Resolver {
  private registry: RegistryClient | null = null;
  /** The open Watch stream; null when there is none (not started, failed, or destroyed). */
  private watch: grpc.ClientReadableStream<ListResponse> | null = null;

  /** grpc-js builds one resolver per channel, with the parsed target: authority "127.0.0.1:8500", path "orders". */
  constructor(
    private readonly target: GrpcUri,
    private readonly listener: ResolverListener,
    _options: grpc.ChannelOptions,
  ) {}

  /**
   * The channel asks for addresses: when it starts, again when a connection
   * is lost, and after a destroy() when it wakes up from idle (hence the
   * registry client created here, not in the constructor). A Watch stream
   * already reports every change, so while one is open there is nothing to do.
   */
  updateResolution(): void {
    if (this.watch) return;
    this.registry ??= new RegistryClient(this.target.authority ?? "", grpc.credentials.createInsecure());
    const watch = this.registry.watch({ service: this.target.path });
    this.watch = watch;
    watch.on("data", (response: ListResponse) => {
      // One endpoint a backend; an endpoint may have several addresses (IPv4 and IPv6 of one host).
      const endpoints = response.endpoints.map((endpoint) => ({ addresses: [{ host: endpoint.host, port: endpoint.port }] }));
      // No service config of our own (null): the channel keeps the one it was created with.
      this.listener(grpc.experimental.statusOrFromValue(endpoints), {}, null, "");
    });
    const lost = (details: string) => {
      if (this.watch !== watch) return; // our own cancel, in destroy()
      this.watch = null;
      // The channel keeps the last good addresses, and calls updateResolution() again when it next needs them (a connection lost).
      this.listener(grpc.experimental.statusOrFromError({ code: grpc.status.UNAVAILABLE, details: `registry ${this.target.authority}: ${details}` }), {}, null, "");
    };
    watch.on("error", (error: grpc.ServiceError) => lost(error.details));
    watch.on("end", () => lost("the Watch stream ended"));
  }

  /** The channel is closed (or idle): stop watching, and close the registry's own channel; updateResolution() may start again. */
  destroy(): void {
    const watch = this.watch;
    this.watch = null;
    watch?.cancel();
    this.registry?.close();
    this.registry = null;
  }

  /** The name the channel sends as :authority: the service, as for dns:///orders.example.com. */
  static getDefaultAuthority(target: GrpcUri): string {
    return target.path;
  }
}

/** Makes every channel created afterwards resolve registry://host:port/service targets. */
export function registerRegistryResolver(): void {
  grpc.experimental.registerResolver("registry", RegistryResolver);
}
