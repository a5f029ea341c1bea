/**
 * Lab 09, your name resolver (step 4).
 *
 * A channel turns its target into addresses with a resolver, chosen by the
 * target's scheme: dns:, ipv4:, unix: are built in. Yours handles
 * registry://127.0.0.1:8500/orders: it asks the registry at 127.0.0.1:8500
 * where "orders" runs, and keeps asking. Every time the answer changes it
 * hands the channel the new list of endpoints.
 *
 * grpc-js's resolver API is experimental (grpc.experimental) and changed in
 * 1.14: the listener became one function. The workshop pins the version of
 * @grpc/grpc-js in package.json; this file is written for it.
 */
import * as grpc from "@grpc/grpc-js";
import { type ListResponse, RegistryClient } from "../gen/lb/v1/registry";

type Resolver = grpc.experimental.Resolver;
type ResolverListener = grpc.experimental.ResolverListener;
type GrpcUri = grpc.experimental.GrpcUri;

class RegistryResolver implements Resolver {
  /** grpc-js builds one resolver per channel, with the parsed target: authority "127.0.0.1:8500", path "orders". */
  constructor(
    private readonly target: GrpcUri,
    private readonly listener: ResolverListener,
    _options: grpc.ChannelOptions,
  ) {}

  /** The channel asks for addresses: when it starts, again when a connection is lost, and after a destroy() when it wakes up from idle. */
  updateResolution(): void {
    // TODO(step 4): ask the registry at this.target.authority where this.target.path runs (Watch or List),
    // and pass the endpoints to this.listener; report an error when the registry cannot be reached.
  }

  /** The channel is closed, or went idle: stop asking the registry (a later updateResolution() starts again). */
  destroy(): void {
    // TODO(step 4): cancel what updateResolution() started, and close the registry client and forget it.
  }

  /** The name the channel sends as :authority. */
  static getDefaultAuthority(target: GrpcUri): string {
    return target.path;
  }
}

/** Makes every channel created afterwards resolve registry://host:port/service targets. */
export function registerRegistryResolver(): void {
  // TODO(step 4): grpc.experimental.registerResolver("registry", RegistryResolver);
  throw new Error("TODO(step 4): register the resolver");
}

// Used by the TODOs above; remove these lines once you use them.
void RegistryResolver;
void RegistryClient;
export type { ListResponse };
