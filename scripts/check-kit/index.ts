/** Helpers for writing lab checks; see docs/architecture.md ("Writing checks"). */
export { CheckFailure, expectEqual, expectTrue, within } from "./assert";
export { unusedAddress } from "./network";
export { expectRejection } from "./rejection";
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
export { step } from "./steps";
export { exportedFunction, loadTarget } from "./target";
