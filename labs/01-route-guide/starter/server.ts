/**
 * Lab 01, your RouteGuide server. Steps 2 to 5 each implement one handler.
 *
 * A gRPC server is a set of handlers, one per RPC in the .proto. The stubs in
 * ../gen (step 1) give you RouteGuideService, the method table addService
 * needs, and RouteGuideServer, the type of the handlers; the handler's
 * signature tells you the kind of RPC:
 *   unary             (call, callback)  read call.request, answer with callback
 *   server streaming  (call)            read call.request, call.write() then call.end()
 *   client streaming  (call, callback)  read call.on("data"/"end"), answer with callback
 *   bidirectional     (call)            read call.on("data"/"end"), call.write(), call.end()
 */
import * as grpc from "@grpc/grpc-js";
import { type Feature, type Point, type RouteGuideServer, RouteGuideService, type RouteNote } from "../gen/routeguide/route_guide";

/** Builds the server; the runner binds it to a port (`npm run lab 01 -- serve`) and the checks to a free one. */
export function createRouteGuideServer(features: Feature[]): grpc.Server {
  const server = new grpc.Server();
  server.addService(RouteGuideService, routeGuideHandlers(features));
  return server;
}

function routeGuideHandlers(features: Feature[]): RouteGuideServer {
  // Notes received by RouteChat, by location, oldest first (step 5).
  const notesByLocation = new Map<string, RouteNote[]>();

  return {
    getFeature(call, callback) {
      // TODO(step 2): answer with the feature at call.request, or an unnamed one.
      callback({ code: grpc.status.UNIMPLEMENTED, details: "TODO(step 2): implement GetFeature" });
    },

    listFeatures(call) {
      // TODO(step 3): write every feature inside call.request, then end the stream.
      call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "TODO(step 3): implement ListFeatures" });
    },

    recordRoute(call, callback) {
      // TODO(step 4): read the points, answer with a RouteSummary when the client ends.
      callback({ code: grpc.status.UNIMPLEMENTED, details: "TODO(step 4): implement RecordRoute" });
    },

    routeChat(call) {
      // TODO(step 5): for each note, write the earlier notes at its location, then store it.
      call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "TODO(step 5): implement RouteChat" });
    },
  };
}

/** True when two points are the same location. */
export function sameLocation(a: Point | undefined, b: Point | undefined): boolean {
  return a !== undefined && b !== undefined && a.latitude === b.latitude && a.longitude === b.longitude;
}

/** A Map key for a location. */
export function locationKey(point: Point | undefined): string {
  return `${point?.latitude ?? 0},${point?.longitude ?? 0}`;
}

/** Great-circle distance in metres between two E7 points (the haversine formula). */
export function distanceMetres(from: Point, to: Point): number {
  const radians = (e7: number) => ((e7 / 1e7) * Math.PI) / 180;
  const earthRadius = 6371000;
  const dLat = radians(to.latitude) - radians(from.latitude);
  const dLon = radians(to.longitude) - radians(from.longitude);
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(radians(from.latitude)) * Math.cos(radians(to.latitude)) * Math.sin(dLon / 2) ** 2;
  return earthRadius * 2 * Math.atan2(Math.sqrt(a), Math.sqrt(1 - a));
}
