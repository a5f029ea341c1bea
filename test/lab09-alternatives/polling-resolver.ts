/**
 * Lab 09, a second correct resolver: it polls List every 100 ms instead of
 * watching, and reports a list only when it changed.
 */
import * as grpc from "@grpc/grpc-js";
import { type Endpoint, RegistryClient } from "../../solutions/09-load-balancing/gen/lb/v1/registry";

class PollingResolver implements grpc.experimental.Resolver {
  private registry: RegistryClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private last = "";

  constructor(
    private readonly target: grpc.experimental.GrpcUri,
    private readonly listener: grpc.experimental.ResolverListener,
  ) {}

  updateResolution(): void {
    if (this.timer) return;
    this.registry = this.registry ?? new RegistryClient(String(this.target.authority), grpc.credentials.createInsecure());
    this.poll();
    this.timer = setInterval(() => this.poll(), 100);
  }

  private poll(): void {
    const registry = this.registry;
    registry?.list({ service: this.target.path }, new grpc.Metadata(), { deadline: Date.now() + 1000 }, (error, response) => {
      if (registry !== this.registry) return;
      if (error) {
        this.last = "";
        this.listener(grpc.experimental.statusOrFromError({ code: grpc.status.UNAVAILABLE, details: error.details }), {}, null, "registry unreachable");
        return;
      }
      const key = JSON.stringify(response.endpoints);
      if (key === this.last) return;
      this.last = key;
      const endpoints = response.endpoints.map((e: Endpoint) => ({ addresses: [{ host: e.host, port: e.port }] }));
      this.listener(grpc.experimental.statusOrFromValue(endpoints), {}, null, "");
    });
  }

  destroy(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.registry?.close();
    this.registry = undefined;
    this.last = "";
  }

  static getDefaultAuthority(target: grpc.experimental.GrpcUri): string {
    return target.path;
  }
}

export function registerRegistryResolver(): void {
  grpc.experimental.registerResolver("registry", PollingResolver);
}
