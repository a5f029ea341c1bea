/** Helpers for writing lab checks; see docs/architecture.md ("Writing checks"). */
export { watchAnswers } from "./answers";
export { CheckFailure, expectEqual, expectTrue, within } from "./assert";
export { type CallOutcome, expectCallError, expectCode, expectNames, serverStreamOutcome, type StreamOutcome, unaryOutcome } from "./outcome";
export { unusedAddress } from "./network";
export { openServerStream, type OpenStream } from "./open-stream";
export { reflectedFiles, reflectedServices } from "./reflection";
export { track } from "./resources";
export {
  bidiStreamCall,
  clientStreamCall,
  listen,
  loadService,
  referenceClient,
  referenceServer,
  rpcDeadlineMs,
  serverStreamCall,
  unaryCall,
} from "./rpc";
export { tcpProxy, type TcpProxy } from "./proxy";
export { readRichStatus, type RichStatus, richStatusMetadata, type StatusDetail, statusDetailsKey } from "./rich-status";
export { step } from "./steps";
export { exportedFunction, loadTarget } from "./target";
export { expectDeadline, expectRejectsWith, noteDeadline, type Recording, record, serviceError } from "./recording";
export { readStream } from "./stream-reader";
