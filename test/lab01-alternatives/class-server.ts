/**
 * Lab 01, a second correct server: the handlers are the methods of a class,
 * the client streams are read with for await, and the features are indexed
 * by location once, up front.
 */
import * as grpc from "@grpc/grpc-js";
import { type Feature, type Point, type Rectangle, type RouteGuideServer, RouteGuideService, type RouteNote, type RouteSummary } from "../../solutions/01-route-guide/gen/routeguide/route_guide";

export function createRouteGuideServer(features: Feature[]): grpc.Server {
  const server = new grpc.Server();
  server.addService(RouteGuideService, new RouteGuide(features));
  return server;
}

class RouteGuide implements RouteGuideServer {
  [method: string]: grpc.UntypedHandleCall;
  // Private fields (#) are not handlers: grpc-js looks up only the service's method names.
  readonly #features: Feature[];
  readonly #byLocation: Map<string, Feature>;
  readonly #notes: RouteNote[] = [];

  constructor(features: Feature[]) {
    this.#features = features;
    this.#byLocation = new Map(features.map((feature) => [locationKey(feature.location), feature]));
  }

  getFeature(call: grpc.ServerUnaryCall<Point, Feature>, callback: grpc.sendUnaryData<Feature>): void {
    callback(null, this.#byLocation.get(locationKey(call.request)) ?? { name: "", location: call.request });
  }

  listFeatures(call: grpc.ServerWritableStream<Rectangle, Feature>): void {
    const lo = call.request.lo ?? { latitude: 0, longitude: 0 };
    const hi = call.request.hi ?? { latitude: 0, longitude: 0 };
    const between = (value: number, a: number, b: number) => (a <= b ? a <= value && value <= b : b <= value && value <= a);
    this.#features
      .filter(({ location }) => location && between(location.latitude, lo.latitude, hi.latitude) && between(location.longitude, lo.longitude, hi.longitude))
      .forEach((feature) => call.write(feature));
    call.end();
  }

  async recordRoute(call: grpc.ServerReadableStream<Point, RouteSummary>, callback: grpc.sendUnaryData<RouteSummary>): Promise<void> {
    const started = performance.now();
    const points: Point[] = [];
    try {
      for await (const point of call) points.push(point as Point);
    } catch {
      return; // the client went away: nobody to answer
    }
    let distance = 0;
    for (let i = 1; i < points.length; i++) distance += distanceMetres(points[i - 1]!, points[i]!);
    callback(null, {
      pointCount: points.length,
      featureCount: points.filter((point) => this.#byLocation.has(locationKey(point))).length,
      distance: Math.round(distance),
      elapsedTime: Math.trunc((performance.now() - started) / 1000),
    });
  }

  async routeChat(call: grpc.ServerDuplexStream<RouteNote, RouteNote>): Promise<void> {
    try {
      // A plain for await destroys the stream when the loop ends, and with it our side of the call.
      for await (const received of call.iterator({ destroyOnReturn: false })) {
        const note = received as RouteNote;
        const key = locationKey(note.location);
        for (const earlier of this.#notes.filter((n) => locationKey(n.location) === key)) call.write(earlier);
        this.#notes.push(note);
      }
      call.end();
    } catch {
      // cancelled: the stream is already over
    }
  }
}

export function sameLocation(a: Point | undefined, b: Point | undefined): boolean {
  return a !== undefined && b !== undefined && a.latitude === b.latitude && a.longitude === b.longitude;
}

export function locationKey(point: Point | undefined): string {
  return `${point?.latitude ?? 0},${point?.longitude ?? 0}`;
}

export function distanceMetres(from: Point, to: Point): number {
  const radians = (e7: number) => ((e7 / 1e7) * Math.PI) / 180;
  const earthRadius = 6371000;
  const dLat = radians(to.latitude) - radians(from.latitude);
  const dLon = radians(to.longitude) - radians(from.longitude);
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(radians(from.latitude)) * Math.cos(radians(to.latitude)) * Math.sin(dLon / 2) ** 2;
  return earthRadius * 2 * Math.atan2(Math.sqrt(a), Math.sqrt(1 - a));
}
