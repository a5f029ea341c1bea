/**
 * Lab 01, the reference RouteGuide server (steps 2 to 5).
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
import { type Feature, type Point, type RouteGuideServer, RouteGuideService, type RouteNote, type RouteSummary } from "../gen/routeguide/route_guide";

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
    // Unary: one request in, one response out through the callback.
    getFeature(call, callback) {
      const found = features.find((feature) => sameLocation(feature.location, call.request));
      // An unknown point is not an error: the answer is a feature with no name.
      callback(null, found ?? { name: "", location: call.request });
    },

    // Server streaming: write as many responses as there are, then end the stream.
    listFeatures(call) {
      const { lo, hi } = call.request;
      const south = Math.min(lo?.latitude ?? 0, hi?.latitude ?? 0);
      const north = Math.max(lo?.latitude ?? 0, hi?.latitude ?? 0);
      const west = Math.min(lo?.longitude ?? 0, hi?.longitude ?? 0);
      const east = Math.max(lo?.longitude ?? 0, hi?.longitude ?? 0);
      for (const feature of features) {
        const { latitude = 0, longitude = 0 } = feature.location ?? {};
        if (latitude >= south && latitude <= north && longitude >= west && longitude <= east) call.write(feature);
      }
      call.end();
    },

    // Client streaming: requests arrive as "data" events; the single answer
    // goes out once the client has half-closed its side ("end").
    recordRoute(call, callback) {
      const startedAt = Date.now();
      const summary: RouteSummary = { pointCount: 0, featureCount: 0, distance: 0, elapsedTime: 0 };
      let metres = 0;
      let previous: Point | undefined;
      call.on("data", (point: Point) => {
        summary.pointCount += 1;
        if (features.some((feature) => sameLocation(feature.location, point))) summary.featureCount += 1;
        if (previous) metres += distanceMetres(previous, point);
        previous = point;
      });
      call.on("end", () => {
        summary.distance = Math.round(metres);
        summary.elapsedTime = Math.floor((Date.now() - startedAt) / 1000);
        callback(null, summary);
      });
    },

    // Bidirectional streaming: both sides read and write independently; the
    // server ends its side once the client has ended its own.
    routeChat(call) {
      call.on("data", (note: RouteNote) => {
        const key = locationKey(note.location);
        const earlier = notesByLocation.get(key) ?? [];
        for (const previousNote of earlier) call.write(previousNote);
        notesByLocation.set(key, [...earlier, note]);
      });
      call.on("end", () => call.end());
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
