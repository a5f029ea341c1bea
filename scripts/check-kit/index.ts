/** Helpers for writing lab checks; see docs/architecture.md ("Writing checks"). */
export { watchAnswers } from "./answers";
export { CheckFailure, expectEqual, expectTrue, type Settlement, settledWithin, within } from "./assert";
export { withEsbuild } from "./esbuild";
export { afterFirstTries, notServingYet, unusedAddress } from "./network";
export { openServerStream, type OpenStream } from "./open-stream";
export { type CallOutcome, expectCallError, expectCode, expectNames, serverStreamOutcome, type StreamOutcome, unaryOutcome } from "./outcome";
export { tcpProxy, type TcpProxy } from "./proxy";
export { expectDeadline, expectNoDeadline, expectRejection, noteDeadline, type Recording, record, serviceError } from "./recording";
export { reflectedFiles, reflectedServices } from "./reflection";
export { track } from "./resources";
export { readRichStatus, type RichStatus, richStatusMetadata, type StatusDetail, statusDetailsKey } from "./rich-status";
export {
  bidiStreamCall,
  clientStreamCall,
  connected,
  listen,
  loadService,
  referenceClient,
  referenceServer,
  rpcDeadlineMs,
  serverStreamCall,
  unaryCall,
} from "./rpc";
export { watchChannels, watchTimingSafeEqual } from "./spies";
export { ownSubject, serial, step, timed } from "./steps";
export { readStream } from "./stream-reader";
export { construct, exportedFunction, fixture, isStandIn, loadTarget, settled } from "./target";
