/**
 * The reference side of lab 01's checks: message types as the checks see
 * them, the feature database, and how to start the learner's server and
 * client. The reference client and server use @grpc/proto-loader, not the
 * learner's stubs, so every check is also a wire-compatibility check.
 */
import type * as grpc from "@grpc/grpc-js";
import * as fs from "node:fs";
import * as path from "node:path";
import { exportedFunction, listen, loadTarget, referenceClient, referenceServer, track } from "../../../scripts/check-kit";

export interface Point {
  latitude: number;
  longitude: number;
}
export interface Rectangle {
  lo: Point;
  hi: Point;
}
export interface Feature {
  name: string;
  location: Point;
}
export interface RouteNote {
  location: Point;
  message: string;
}
export interface RouteSummary {
  pointCount: number;
  featureCount: number;
  distance: number;
  elapsedTime: number;
}

export const proto = "routeguide/route_guide.proto";
export const service = "routeguide.RouteGuide";

/** The standard 100-feature RouteGuide database shipped with every official example. */
export function loadFeatureDb(): Feature[] {
  return JSON.parse(fs.readFileSync(path.join(__dirname, "..", "data", "route_guide_db.json"), "utf8")) as Feature[];
}

/** What the learner's src/server.ts must export. */
type CreateServer = (features: Feature[]) => Promise<grpc.Server>;

/**
 * What the learner's src/client.ts must export. The checks call each function
 * in the process that runs the learner's code, so each resolves there.
 */
export interface ClientModule {
  createRouteGuideClient(address: string): Promise<grpc.Client>;
  getFeature(client: grpc.Client, point: Point): Promise<Feature>;
  listFeatures(client: grpc.Client, rectangle: Rectangle): Promise<Feature[]>;
  recordRoute(client: grpc.Client, points: Point[]): Promise<RouteSummary>;
  routeChat(client: grpc.Client, notes: RouteNote[]): Promise<RouteNote[]>;
}

export async function createLearnerServer(features: Feature[]): Promise<grpc.Server> {
  const file = "src/server.ts";
  return exportedFunction<CreateServer>(await loadTarget(file), "createRouteGuideServer", file)(features);
}

/** Starts the learner's server on a free port with `features`; returns a reference client for it. */
export async function learnerServer(features: Feature[] = loadFeatureDb()): Promise<grpc.Client> {
  const address = await listen(await createLearnerServer(features));
  return referenceClient(proto, service, address);
}

/** The learner's client module, with every function the checks call. */
export async function learnerClientModule(): Promise<ClientModule> {
  const file = "src/client.ts";
  const module = await loadTarget<ClientModule>(file);
  for (const name of ["createRouteGuideClient", "getFeature", "listFeatures", "recordRoute", "routeChat"]) {
    exportedFunction(module, name, file);
  }
  return module;
}

/** Starts a recording server with `handlers`; returns the learner's module and a client it created for that server. */
export async function learnerClientFor(handlers: grpc.UntypedServiceImplementation): Promise<{ learner: ClientModule; client: grpc.Client }> {
  const learner = await learnerClientModule();
  const address = await referenceServer(proto, service, handlers);
  const client = await learner.createRouteGuideClient(address);
  track(() => client.close());
  return { learner, client };
}

export const point = (latitude: number, longitude: number): Point => ({ latitude, longitude });
export const note = (latitude: number, longitude: number, message: string): RouteNote => ({ location: point(latitude, longitude), message });
