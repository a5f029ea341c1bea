/**
 * Lab 08, step 2: a server interceptor that writes one JSON line per call.
 *
 * A server interceptor sees every call before any handler does, and every
 * answer after: the incoming metadata, each message each way, and the final
 * status. That makes it the one place to log, count and trace calls.
 *
 * grpc-js ends a call in two ways, and an interceptor must watch both:
 * - sendStatus: the handler (or an inner interceptor) answered, OK or not;
 * - onCancel: the client cancelled, the deadline passed, or the connection
 *   broke. grpc-js answers DEADLINE_EXCEEDED itself, below the interceptors,
 *   so they never see that status: only onCancel (step 6).
 */
import * as grpc from "@grpc/grpc-js";

/** The four kinds of RPC, named as go-grpc-prometheus names them (its grpc_type label). */
export type RpcKind = "unary" | "client_stream" | "server_stream" | "bidi_stream";

export function rpcKind(method: { requestStream: boolean; responseStream: boolean }): RpcKind {
  if (method.requestStream) return method.responseStream ? "bidi_stream" : "client_stream";
  return method.responseStream ? "server_stream" : "unary";
}

/**
 * The logging interceptor: one JSON line per call, written with `log`:
 *   {"method":"/shop.v1.Catalog/GetItem","kind":"unary","code":"OK","durationMs":1.9,"peer":"127.0.0.1:53412","received":1,"sent":1}
 * and never a message's contents or the metadata, where credentials travel.
 */
export function loggingInterceptor(log: (line: string) => void): grpc.ServerInterceptor {
  void log;
  return (method, call) => {
    // TODO(step 2): count the messages each way, time the call, and once it ends log(JSON.stringify({ ... })).
    //   method.path is the full method; rpcKind(method) its kind; call.getPeer() the client's address.
    //   The responder's start(next) passes a listener to next: onReceiveMetadata, onReceiveMessage,
    //   onReceiveHalfClose, onCancel. Its sendMessage and sendStatus see what goes out. Call every `next`.
    // TODO(step 6): end the record on onCancel too (CANCELLED, or DEADLINE_EXCEEDED past call.getDeadline()),
    //   and only once: the first of sendStatus and onCancel decides.
    void method;
    return new grpc.ServerInterceptingCall(call);
  };
}
