/**
 * Lab 08, step 2: a server interceptor that writes one JSON line per call.
 *
 * A server interceptor sees every call before any handler does, and every
 * answer after: the incoming metadata, each message each way, and the final
 * status. That makes it the one place to log, count and trace calls, instead
 * of a line in every handler.
 *
 * grpc-js ends a call in two ways, and an interceptor must watch both:
 * - sendStatus: the handler (or an inner interceptor) answered, OK or not;
 * - onCancel: the client cancelled, the deadline passed, or the connection
 *   broke. grpc-js answers DEADLINE_EXCEEDED itself, below the interceptors,
 *   so they never see that status: only onCancel.
 * grpc-js also calls onCancel after every ordinary answer, so the first of
 * the two decides how the call ended, and whatever comes later is ignored.
 */
import * as grpc from "@grpc/grpc-js";

/** The four kinds of RPC, named as go-grpc-prometheus names them (its grpc_type label). */
export type RpcKind = "unary" | "client_stream" | "server_stream" | "bidi_stream";

export function rpcKind(method: { requestStream: boolean; responseStream: boolean }): RpcKind {
  if (method.requestStream) return method.responseStream ? "bidi_stream" : "client_stream";
  return method.responseStream ? "server_stream" : "unary";
}

/** What the interceptors know about one call once it has ended. */
export interface CallRecord {
  /** The full method: "/shop.v1.Catalog/GetItem". */
  method: string;
  kind: RpcKind;
  code: grpc.status;
  durationMs: number;
  /** The client's address, as "127.0.0.1:53412". */
  peer: string;
  /** Messages received from the client, and sent to it. */
  received: number;
  sent: number;
}

/** What an interceptor built on watchCall does at each point of a call. */
export interface Watch {
  /** The call's metadata arrived: the call starts. */
  onStart?(metadata: grpc.Metadata): void;
  onReceive?(): void;
  onSend?(): void;
  /** Runs each event on its way to the handler; tracing runs them inside the call's span. */
  around?<T>(next: () => T): T;
  /** The call ended; called once. */
  onEnd(record: CallRecord): void;
}

/**
 * Node's timers can fire a few milliseconds early by Date.now()'s clock, so a
 * cancel this close to the deadline is the deadline's.
 */
const deadlineMarginMs = 10;

/** Follows one call for an interceptor: counts its messages, times it, and reports its end once. */
export function watchCall(method: grpc.ServerMethodDefinition<unknown, unknown>, call: grpc.ServerInterceptingCallInterface, watch: Watch): grpc.ServerInterceptingCall {
  const started = performance.now();
  const record: CallRecord = { method: method.path, kind: rpcKind(method), code: grpc.status.OK, durationMs: 0, peer: call.getPeer(), received: 0, sent: 0 };
  let ended = false;
  const end = (code: grpc.status) => {
    if (ended) return; // the first of sendStatus and onCancel decides
    ended = true;
    record.code = code;
    record.durationMs = performance.now() - started;
    watch.onEnd(record);
  };
  const around = watch.around ?? ((next) => next());

  return new grpc.ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(metadata, next) {
          watch.onStart?.(metadata);
          around(() => next(metadata));
        },
        onReceiveMessage(message, next) {
          record.received++;
          watch.onReceive?.();
          around(() => next(message));
        },
        onReceiveHalfClose(next) {
          around(() => next());
        },
        onCancel() {
          // No status reached us first: the client cancelled, or the deadline passed.
          const deadline = Number(call.getDeadline()); // Infinity when the client set none
          end(Date.now() >= deadline - deadlineMarginMs ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED);
        },
      });
    },
    sendMessage(message, next) {
      if (!ended) {
        // After a cancel grpc-js drops what a handler still sends: it is not counted.
        record.sent++;
        watch.onSend?.();
      }
      next(message);
    },
    sendStatus(status, next) {
      end(status.code);
      next(status);
    },
  });
}

/**
 * The logging interceptor: one JSON line per call, written with `log`. It
 * writes what an operator needs to find a call (method, kind, code, time,
 * peer, message counts), and never a message's contents or the metadata,
 * where credentials travel (`authorization`).
 */
export function loggingInterceptor(log: (line: string) => void): grpc.ServerInterceptor {
  return (method, call) =>
    watchCall(method, call, {
      onEnd(record) {
        log(
          JSON.stringify({
            method: record.method,
            kind: record.kind,
            code: grpc.status[record.code],
            durationMs: Math.round(record.durationMs * 100) / 100,
            peer: record.peer,
            received: record.received,
            sent: record.sent,
          }),
        );
      },
    });
}
