/**
 * Lab 08, step 4: tracing with OpenTelemetry's API and W3C Trace Context.
 *
 * A trace follows one request across services. Each service adds a span (a
 * timed piece of work) whose parent is the caller's span; the two are tied
 * together by the `traceparent` header, here a gRPC metadata entry:
 *
 *   traceparent: 00-<trace id, 32 hex>-<parent span id, 16 hex>-<flags, 01 = sampled>
 *
 * The server interceptor reads it and starts a SERVER span as its child; the
 * handler runs inside that span's context; the Prices client's interceptor
 * starts a CLIENT span as a child of whatever span is active and writes a new
 * `traceparent` (same trace id, the client span's id) into the outgoing
 * metadata. Names and attributes follow OpenTelemetry's RPC semantic
 * conventions, v1.45.0 (see the README).
 */
import * as grpc from "@grpc/grpc-js";
import { context, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, type TextMapGetter, type TextMapSetter, trace, type Tracer } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { ATTR_ERROR_TYPE, ATTR_RPC_METHOD, ATTR_RPC_STATUS_CODE, ATTR_RPC_SYSTEM_NAME, RPC_SYSTEM_NAME_VALUE_GRPC } from "@opentelemetry/semantic-conventions";
import { watchCall } from "./logging";

// context.with() does nothing until a context manager is registered: this one
// follows the active span through callbacks and awaits (AsyncLocalStorage).
// Once per process; a second registration is refused, which is harmless.
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const propagator = new W3CTraceContextPropagator();

/** How the propagator reads and writes grpc.Metadata. */
const getter: TextMapGetter<grpc.Metadata> = {
  keys: (metadata) => Object.keys(metadata.getMap()),
  get: (metadata, key) => {
    const values = metadata.get(key).map(String);
    return values.length > 0 ? values : undefined;
  },
};
const setter: TextMapSetter<grpc.Metadata> = { set: (metadata, key, value) => metadata.set(key, value) };

/** The codes that make a server span an error (semantic conventions, docs/rpc/grpc.md): the server's fault, not the caller's. */
const serverErrors = new Set([grpc.status.UNKNOWN, grpc.status.DEADLINE_EXCEEDED, grpc.status.UNIMPLEMENTED, grpc.status.INTERNAL, grpc.status.UNAVAILABLE, grpc.status.DATA_LOSS]);

function finish(span: Span, code: grpc.status, isError: boolean): void {
  span.setAttribute(ATTR_RPC_STATUS_CODE, grpc.status[code]);
  if (isError) {
    span.setAttribute(ATTR_ERROR_TYPE, grpc.status[code]);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/** A SERVER span per call, the child of the caller's span when the call carries a traceparent. */
export function serverTracingInterceptor(tracer: Tracer): grpc.ServerInterceptor {
  return (method, call) => {
    const name = method.path.slice(1); // "shop.v1.Catalog/GetItem": the span name is rpc.method
    let span: Span | undefined;
    let active = ROOT_CONTEXT;
    return watchCall(method, call, {
      onStart(metadata) {
        const parent = propagator.extract(ROOT_CONTEXT, metadata, getter);
        span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes: { [ATTR_RPC_SYSTEM_NAME]: RPC_SYSTEM_NAME_VALUE_GRPC, [ATTR_RPC_METHOD]: name } }, parent);
        active = trace.setSpan(parent, span);
      },
      // The handler runs inside the span's context, so calls it makes are the span's children.
      around: (next) => context.with(active, next),
      onEnd(record) {
        if (span) finish(span, record.code, serverErrors.has(record.code));
      },
    });
  };
}

/** A CLIENT span per outgoing call, whose id travels in the call's traceparent. */
export function clientTracingInterceptor(tracer: Tracer): grpc.Interceptor {
  return (options, nextCall) => {
    const name = options.method_definition.path.slice(1);
    const parent = context.active(); // the server span, when a handler makes this call
    const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes: { [ATTR_RPC_SYSTEM_NAME]: RPC_SYSTEM_NAME_VALUE_GRPC, [ATTR_RPC_METHOD]: name } }, parent);
    return new grpc.InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        propagator.inject(trace.setSpan(parent, span), metadata, setter);
        next(metadata, {
          onReceiveStatus(status, next) {
            finish(span, status.code, status.code !== grpc.status.OK); // on a client span, every failure is an error
            next(status);
          },
        });
      },
    });
  };
}
