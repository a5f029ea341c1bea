/**
 * Lab 01, your RouteGuide client. Steps 6 to 9 each wrap one RPC in a promise.
 *
 * A client is a stub bound to a channel: RouteGuideClient (from ../gen) has
 * one method per RPC, and the kind of RPC decides its shape:
 *   unary             client.getFeature(request, metadata, options, callback)
 *   server streaming  client.listFeatures(request, options)  -> a readable stream
 *   client streaming  client.recordRoute(options, callback)  -> a writable stream
 *   bidirectional     client.routeChat(options)              -> a duplex stream
 * Every call gets a deadline: without one, a call to a stuck server waits forever.
 */
import * as grpc from "@grpc/grpc-js";
import { type Feature, type Point, type Rectangle, RouteGuideClient, type RouteNote, type RouteSummary } from "../gen/routeguide/route_guide";

/** How long any call may take, end to end. */
const callTimeoutMs = 5000;

/** The deadline for a call starting now. */
export function deadline(): Date {
  return new Date(Date.now() + callTimeoutMs);
}

/** A client on a plaintext channel to `address` (host:port). Close it with client.close(). */
export function createRouteGuideClient(address: string): RouteGuideClient {
  return new RouteGuideClient(address, grpc.credentials.createInsecure());
}

/** Step 6: the feature at `point`; rejects with the call's error (error.code is a grpc.status). */
export function getFeature(client: RouteGuideClient, point: Point): Promise<Feature> {
  // TODO(step 6): call client.getFeature with a deadline.
  return Promise.reject(new Error("TODO(step 6): implement getFeature"));
}

/** Step 7: every feature the server streams for `rectangle`, in order. */
export function listFeatures(client: RouteGuideClient, rectangle: Rectangle): Promise<Feature[]> {
  // TODO(step 7): call client.listFeatures with a deadline and collect the stream.
  return Promise.reject(new Error("TODO(step 7): implement listFeatures"));
}

/** Step 8: streams `points` to the server and returns its summary. */
export function recordRoute(client: RouteGuideClient, points: Point[]): Promise<RouteSummary> {
  // TODO(step 8): call client.recordRoute with a deadline, write every point, end the stream.
  return Promise.reject(new Error("TODO(step 8): implement recordRoute"));
}

/** Step 9: sends `notes` and returns every note the server sends back, in order. */
export function routeChat(client: RouteGuideClient, notes: RouteNote[]): Promise<RouteNote[]> {
  // TODO(step 9): call client.routeChat with a deadline, write the notes, collect the replies.
  return Promise.reject(new Error("TODO(step 9): implement routeChat"));
}
