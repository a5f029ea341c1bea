/**
 * Lab 01's `serve` and `client` commands: the server built from the code under
 * test with the standard feature database, and the calls the official
 * RouteGuide clients make, printed as they come back.
 */
import { CheckFailure } from "../../scripts/check-kit";
import type { LabHooks } from "../../scripts/lib/lab-hooks";
import { createLearnerServer, learnerClientModule, loadFeatureDb, note, point } from "./checks/route-guide";

export const hooks: LabHooks = {
  createServer: () => createLearnerServer(loadFeatureDb()),

  async runClientDemo(address, print, args) {
    if (args.length > 0) throw new CheckFailure(`lab 01's client takes no options, not "${args.join(" ")}"`);
    const learner = await learnerClientModule();
    const client = await learner.createRouteGuideClient(address);
    try {
      const show = (p: { latitude: number; longitude: number } | undefined) => `(${p?.latitude ?? 0}, ${p?.longitude ?? 0})`;

      print("GetFeature, unary:");
      for (const p of [point(409146138, -746188906), point(0, 0)]) {
        const feature = await learner.getFeature(client, p);
        print(`  ${show(p)} -> ${feature.name ? `"${feature.name}"` : "no feature (empty name)"}`);
      }

      print("ListFeatures, server streaming, over lo=(400000000, -750000000) hi=(420000000, -730000000):");
      const features = await learner.listFeatures(client, { lo: point(400000000, -750000000), hi: point(420000000, -730000000) });
      for (const feature of features.slice(0, 3)) print(`  "${feature.name}" at ${show(feature.location)}`);
      print(`  ... ${features.length} features in all`);

      print("RecordRoute, client streaming, 10 random database locations:");
      const db = loadFeatureDb();
      const route = Array.from({ length: 10 }, () => db[Math.floor(Math.random() * db.length)]!.location);
      const summary = await learner.recordRoute(client, route);
      print(`  ${summary.pointCount} points, ${summary.featureCount} features, ${summary.distance} metres, ${summary.elapsedTime} seconds`);

      print("RouteChat, bidirectional streaming, 5 notes:");
      const notes = [note(0, 0, "First message"), note(0, 1, "Second message"), note(1, 0, "Third message"), note(0, 0, "Fourth message"), note(1, 0, "Fifth message")];
      for (const reply of await learner.routeChat(client, notes)) print(`  got "${reply.message}" at ${show(reply.location)}`);
    } finally {
      client.close();
    }
  },
};
