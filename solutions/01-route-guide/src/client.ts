/**
 * Lab 01, the reference RouteGuide client (steps 6 to 9).
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
  return new Promise((resolve, reject) => {
    client.getFeature(point, new grpc.Metadata(), { deadline: deadline() }, (error, feature) => (error ? reject(error) : resolve(feature)));
  });
}

/** Step 7: every feature the server streams for `rectangle`, in order. */
export function listFeatures(client: RouteGuideClient, rectangle: Rectangle): Promise<Feature[]> {
  return new Promise((resolve, reject) => {
    const features: Feature[] = [];
    const call = client.listFeatures(rectangle, { deadline: deadline() });
    call.on("data", (feature: Feature) => features.push(feature));
    // A failed stream emits "error" before "end": the promise is rejected
    // first, so a stream that breaks midway never looks like a short list.
    call.on("error", reject);
    call.on("end", () => resolve(features));
  });
}

/** Step 8: streams `points` to the server and returns its summary. */
export function recordRoute(client: RouteGuideClient, points: Point[]): Promise<RouteSummary> {
  return new Promise((resolve, reject) => {
    const call = client.recordRoute({ deadline: deadline() }, (error, summary) => (error ? reject(error) : resolve(summary)));
    for (const point of points) call.write(point);
    // Half-close: tells the server no more points are coming, so it can answer.
    call.end();
  });
}

/** Step 9: sends `notes` and returns every note the server sends back, in order. */
export function routeChat(client: RouteGuideClient, notes: RouteNote[]): Promise<RouteNote[]> {
  return new Promise((resolve, reject) => {
    const received: RouteNote[] = [];
    const call = client.routeChat({ deadline: deadline() });
    call.on("data", (note: RouteNote) => received.push(note));
    call.on("end", () => resolve(received));
    call.on("error", reject);
    for (const note of notes) call.write(note);
    // Ending our side does not end the server's: keep reading until "end".
    call.end();
  });
}
