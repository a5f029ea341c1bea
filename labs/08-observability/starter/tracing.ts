/**
 * Lab 08, step 4: tracing with OpenTelemetry's API and W3C Trace Context.
 *
 * The `traceparent` metadata entry ties a call to its caller's span:
 *
 *   traceparent: 00-<trace id, 32 hex>-<parent span id, 16 hex>-<flags, 01 = sampled>
 *
 * The server interceptor reads it and starts a SERVER span as its child, and
 * runs the handler inside that span's context; the Prices client's
 * interceptor starts a CLIENT span as a child of the active span and sends
 * its context on in the outgoing metadata. Name spans and attributes after
 * OpenTelemetry's RPC semantic conventions (see the README): span name and
 * rpc.method "shop.v1.Catalog/GetItem", rpc.system.name "grpc",
 * rpc.status_code "OK" or "NOT_FOUND".
 */
import * as grpc from "@grpc/grpc-js";
import type { Tracer } from "@opentelemetry/api";

/** A SERVER span per call, the child of the caller's span when the call carries a traceparent. */
export function serverTracingInterceptor(tracer: Tracer): grpc.ServerInterceptor {
  void tracer;
  // TODO(step 4): extract the caller's context from the metadata, start a SERVER span, run the
  //   listener's events inside its context, and end it with rpc.status_code when the call ends.
  return (_method, call) => new grpc.ServerInterceptingCall(call);
}

/** A CLIENT span per outgoing call, whose id travels in the call's traceparent. */
export function clientTracingInterceptor(tracer: Tracer): grpc.Interceptor {
  void tracer;
  // TODO(step 4): start a CLIENT span as a child of context.active(), inject its context into the
  //   outgoing metadata in start(), and end it in onReceiveStatus.
  return (options, nextCall) => new grpc.InterceptingCall(nextCall(options));
}
