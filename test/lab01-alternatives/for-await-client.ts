/**
 * Lab 01, a second correct client: async functions throughout, util.promisify
 * for the unary call, for await over the response streams.
 */
import * as grpc from "@grpc/grpc-js";
import { promisify } from "node:util";
import { type Feature, type Point, type Rectangle, RouteGuideClient, type RouteNote, type RouteSummary } from "../../solutions/01-route-guide/gen/routeguide/route_guide";

export function deadline(): Date {
  return new Date(Date.now() + 5000);
}

export function createRouteGuideClient(address: string): RouteGuideClient {
  return new RouteGuideClient(address, grpc.credentials.createInsecure());
}

export async function getFeature(client: RouteGuideClient, point: Point): Promise<Feature> {
  const call = promisify((p: Point, done: (error: grpc.ServiceError | null, feature?: Feature) => void) => client.getFeature(p, new grpc.Metadata(), { deadline: deadline() }, done));
  return (await call(point))!;
}

export async function listFeatures(client: RouteGuideClient, rectangle: Rectangle): Promise<Feature[]> {
  const features: Feature[] = [];
  // The iterator throws the stream's error: a broken stream never returns a short list.
  for await (const feature of client.listFeatures(rectangle, { deadline: deadline() })) features.push(feature as Feature);
  return features;
}

export async function recordRoute(client: RouteGuideClient, points: Point[]): Promise<RouteSummary> {
  let settle!: (error: grpc.ServiceError | null, summary?: RouteSummary) => void;
  const answer = new Promise<RouteSummary>((resolve, reject) => (settle = (error, summary) => (error ? reject(error) : resolve(summary!))));
  const call = client.recordRoute({ deadline: deadline() }, (error, summary) => settle(error, summary));
  points.forEach((point) => call.write(point));
  call.end();
  return answer;
}

export async function routeChat(client: RouteGuideClient, notes: RouteNote[]): Promise<RouteNote[]> {
  const call = client.routeChat({ deadline: deadline() });
  notes.forEach((note) => call.write(note));
  call.end();
  const replies: RouteNote[] = [];
  for await (const reply of call) replies.push(reply as RouteNote);
  return replies;
}
