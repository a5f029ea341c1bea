/**
 * Lab 01, steps 2 to 5: the learner's server, called by a reference client
 * over a real connection. Expected answers come from the feature database and
 * the behaviour of the official RouteGuide servers (Go, Python).
 */
import { bidiStreamCall, clientStreamCall, expectEqual, expectTrue, serverStreamCall, step, unaryCall } from "../../../scripts/check-kit";
import { type Feature, learnerServer, loadFeatureDb, note, point, type RouteNote, type RouteSummary } from "./route-guide";

const byPosition = (a: Feature, b: Feature) => a.location.latitude - b.location.latitude || a.location.longitude - b.location.longitude || a.name.localeCompare(b.name);

step(2, () => {
  it("returns the named feature at a known point", async () => {
    const client = await learnerServer();
    const feature = await unaryCall<Feature>(client, "getFeature", point(409146138, -746188906));
    expectEqual(feature, { name: "Berkshire Valley Management Area Trail, Jefferson, NJ, USA", location: point(409146138, -746188906) }, "GetFeature(409146138, -746188906)");
  });

  it("returns an unnamed feature, not an error, at an unknown point", async () => {
    const client = await learnerServer();
    const feature = await unaryCall<Feature>(client, "getFeature", point(0, 0));
    expectEqual(feature, { name: "", location: point(0, 0) }, "GetFeature(0, 0)");
  });

  it("matches both coordinates: a point that shares only the latitude or only the longitude of a feature is unknown", async () => {
    const client = await learnerServer();
    for (const p of [point(409146138, -740000000), point(400000000, -746188906)]) {
      const feature = await unaryCall<Feature>(client, "getFeature", p);
      expectEqual(feature, { name: "", location: p }, `GetFeature(${p.latitude}, ${p.longitude}), next to the feature at (409146138, -746188906)`);
    }
  });

  it("answers from the features it was created with", async () => {
    const features = [
      { name: "First", location: point(10, 20) },
      { name: "Second", location: point(-10, -20) },
    ];
    const client = await learnerServer(features);
    for (const feature of features) {
      expectEqual(await unaryCall<Feature>(client, "getFeature", feature.location), feature, `GetFeature(${feature.location.latitude}, ${feature.location.longitude}) with a two-feature database`);
    }
  });
});

step(3, () => {
  const wholeMap = { lo: point(400000000, -750000000), hi: point(420000000, -730000000) };

  it("streams all 100 features inside a rectangle that covers the map", async () => {
    const client = await learnerServer();
    const features = await serverStreamCall<Feature>(client, "listFeatures", wholeMap);
    expectEqual(features.length, 100, "number of features streamed for the whole map (unnamed ones included)");
    expectEqual([...features].sort(byPosition), loadFeatureDb().sort(byPosition), "features streamed for the whole map");
  });

  it("includes features on the edges of the rectangle, and none just outside any edge", async () => {
    // Away from 0 on both axes, west of the prime meridian like the map: a missing bound does not look like 0.
    const inside = [
      { name: "south-west corner", location: point(100, -110) },
      { name: "north-east corner", location: point(110, -100) },
      { name: "east edge", location: point(105, -100) },
    ];
    const outside = [
      { name: "just north", location: point(111, -105) },
      { name: "just south", location: point(99, -105) },
      { name: "just west", location: point(105, -111) },
      { name: "just east", location: point(105, -99) },
    ];
    const client = await learnerServer([...inside, ...outside]);
    const features = await serverStreamCall<Feature>(client, "listFeatures", { lo: point(100, -110), hi: point(110, -100) });
    expectEqual([...features].sort(byPosition), [...inside].sort(byPosition), "features in the rectangle (100,-110)-(110,-100), bounds included, with one feature just outside each edge");
  });

  it("accepts the corners in any order", async () => {
    const client = await learnerServer();
    const swapped = await serverStreamCall<Feature>(client, "listFeatures", { lo: wholeMap.hi, hi: wholeMap.lo });
    expectEqual(swapped.length, 100, "number of features streamed when lo is the north-east corner");
  });

  it("streams nothing, and ends the stream, for an empty region", async () => {
    const client = await learnerServer();
    const features = await serverStreamCall<Feature>(client, "listFeatures", { lo: point(0, 0), hi: point(10, 10) });
    expectEqual(features, [], "features streamed for a region with none");
  });
});

step(4, () => {
  const db = loadFeatureDb();
  const named = db.filter((f) => f.name !== "").slice(0, 3).map((f) => f.location);

  it("counts points, features and distance for a route", async () => {
    const client = await learnerServer();
    const route = [...named, point(0, 0)];
    const summary = await clientStreamCall<RouteSummary>(client, "recordRoute", route);
    expectEqual(summary.pointCount, 4, "pointCount for a route of 4 points");
    expectEqual(summary.featureCount, 3, "featureCount for a route through 3 known features and 1 unknown point");
    const expected = route.slice(1).reduce((sum, p, i) => sum + haversineMetres(route[i]!, p), 0);
    expectTrue(Math.abs(summary.distance - expected) <= expected * 0.005 + 1, `distance: expected about ${Math.round(expected)} metres, got ${summary.distance}`);
    expectTrue(summary.elapsedTime >= 0 && summary.elapsedTime <= 1, `elapsedTime for a route sent at once: expected 0 or 1 seconds, got ${summary.elapsedTime}`);
  });

  it("reports elapsedTime in whole seconds, for a route whose points are 1.2 s apart", async () => {
    const client = await learnerServer();
    const summary = await clientStreamCall<RouteSummary>(client, "recordRoute", named.slice(0, 2), { gapMs: 1200 });
    expectEqual(summary.pointCount, 2, "pointCount for a route of 2 points sent 1.2 s apart");
    expectTrue(summary.elapsedTime === 1 || summary.elapsedTime === 2, `elapsedTime for a route that took 1.2 s: expected 1 (whole seconds), got ${summary.elapsedTime}`);
  });

  it("measures the distance along a route between database features", async () => {
    const client = await learnerServer();
    const summary = await clientStreamCall<RouteSummary>(client, "recordRoute", named);
    const expected = named.slice(1).reduce((sum, p, i) => sum + haversineMetres(named[i]!, p), 0);
    expectTrue(Math.abs(summary.distance - expected) <= expected * 0.005 + 1, `distance of a route through 3 features: expected about ${Math.round(expected)} metres, got ${summary.distance}`);
  });

  it("counts database locations even when their feature has no name", async () => {
    const client = await learnerServer();
    const unnamed = db.filter((f) => f.name === "").slice(0, 2).map((f) => f.location);
    const summary = await clientStreamCall<RouteSummary>(client, "recordRoute", unnamed);
    expectEqual(summary.featureCount, 2, "featureCount for a route through 2 unnamed database locations");
  });

  it("answers an empty route with zero counts", async () => {
    const client = await learnerServer();
    const summary = await clientStreamCall<RouteSummary>(client, "recordRoute", []);
    expectEqual(summary, { pointCount: 0, featureCount: 0, distance: 0, elapsedTime: 0 }, "summary of an empty route");
  });
});

step(5, () => {
  it("sends back the earlier notes at the same location, in order", async () => {
    const client = await learnerServer();
    // The five notes the official Python client sends.
    const notes = [note(0, 0, "First message"), note(0, 1, "Second message"), note(1, 0, "Third message"), note(0, 0, "Fourth message"), note(1, 0, "Fifth message")];
    const replies = await bidiStreamCall<RouteNote>(client, "routeChat", notes);
    expectEqual(replies, [notes[0], notes[2]], "notes sent back for the official client's five notes");
  });

  it("sends every earlier note at a location, oldest first", async () => {
    const client = await learnerServer();
    const notes = [note(7, 7, "a"), note(7, 7, "b"), note(7, 7, "c")];
    const replies = await bidiStreamCall<RouteNote>(client, "routeChat", notes);
    expectEqual(replies, [notes[0], notes[0], notes[1]], "notes sent back for three notes at one location");
  });

  it("sends nothing back for a new location, and ends the stream", async () => {
    const client = await learnerServer();
    const replies = await bidiStreamCall<RouteNote>(client, "routeChat", [note(3, 4, "hello")]);
    expectEqual(replies, [], "notes sent back for a single note");
  });

  it("keeps the notes between calls: a second call gets the notes of the first", async () => {
    const client = await learnerServer();
    await bidiStreamCall<RouteNote>(client, "routeChat", [note(5, 5, "first call")]);
    const replies = await bidiStreamCall<RouteNote>(client, "routeChat", [note(5, 5, "second call")]);
    expectEqual(replies, [note(5, 5, "first call")], "notes sent back to a second RouteChat call at the location of an earlier call's note (the notes belong to the server, not to one call)");
  });

  it("keeps the notes of each server apart", async () => {
    await bidiStreamCall<RouteNote>(await learnerServer(), "routeChat", [note(6, 6, "to the first server")]);
    const replies = await bidiStreamCall<RouteNote>(await learnerServer(), "routeChat", [note(6, 6, "to the second server")]);
    expectEqual(replies, [], "notes sent back by a new server for a location that only another server has notes for (keep them in routeGuideHandlers, not in the module)");
  });
});

/** Haversine distance, the reference computation the learner's distance is compared with. */
function haversineMetres(a: { latitude: number; longitude: number }, b: { latitude: number; longitude: number }): number {
  const rad = (e7: number) => (e7 / 1e7) * (Math.PI / 180);
  const h = Math.sin((rad(b.latitude) - rad(a.latitude)) / 2) ** 2 + Math.cos(rad(a.latitude)) * Math.cos(rad(b.latitude)) * Math.sin((rad(b.longitude) - rad(a.longitude)) / 2) ** 2;
  return 2 * 6371000 * Math.asin(Math.sqrt(h));
}
