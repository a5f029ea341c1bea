/**
 * Lab 01, steps 6 to 9: the learner's client, calling a recording server that
 * the check controls. Each check asserts what the client sent (the request,
 * the stream, a deadline) and that it returns what the server answered.
 */
import * as grpc from "@grpc/grpc-js";
import { expectDeadline, expectEqual, expectRejection, noteDeadline, type Recording, record, rpcDeadlineMs, serviceError, step, within } from "../../../scripts/check-kit";
import { type Feature, learnerClientFor, note, point, type Point, type Rectangle, type RouteNote, type RouteSummary } from "./route-guide";

/** Time allowed for the learner's function to settle; the recording server always answers at once. */
const settleMs = rpcDeadlineMs;

const sample: Feature[] = [
  { name: "Alpha", location: point(1, 2) },
  { name: "", location: point(3, 4) },
  { name: "Gamma", location: point(5, 6) },
];

step(6, () => {
  const unaryServer = (recording: Recording<Point>, answer: (request: Point) => Feature | grpc.ServiceError) => ({
    getFeature(call: grpc.ServerUnaryCall<Point, Feature>, callback: grpc.sendUnaryData<Feature>) {
      recording.requests.push(call.request);
      noteDeadline(recording, call);
      const response = answer(call.request);
      if ("code" in response) callback(response);
      else callback(null, response);
    },
  });

  it("sends the point and returns the server's feature", async () => {
    const recording = record<Point>();
    const { learner, client } = await learnerClientFor(unaryServer(recording, (p) => ({ name: "Recorded", location: p })));
    const feature = await within(learner.getFeature(client, point(42, -7)), settleMs, "getFeature()");
    expectEqual(recording.requests, [point(42, -7)], "requests the server received");
    expectEqual(feature, { name: "Recorded", location: point(42, -7) }, "what getFeature() returned");
  });

  it("sets a deadline on the call", async () => {
    const recording = record<Point>();
    const { learner, client } = await learnerClientFor(unaryServer(recording, (p) => ({ name: "", location: p })));
    await within(learner.getFeature(client, point(1, 1)), settleMs, "getFeature()");
    expectDeadline(recording, "GetFeature");
  });

  it("rejects with the server's status code when the call fails", async () => {
    const recording = record<Point>();
    const notFound = serviceError(grpc.status.NOT_FOUND, "no such place");
    const { learner, client } = await learnerClientFor(unaryServer(recording, () => notFound));
    await expectRejection(learner.getFeature(client, point(1, 1)), grpc.status.NOT_FOUND, "getFeature() against a server that answers NOT_FOUND");
  });
});

step(7, () => {
  const streamingServer = (recording: Recording<Rectangle>, features: Feature[], failAfter?: number) => ({
    listFeatures(call: grpc.ServerWritableStream<Rectangle, Feature>) {
      recording.requests.push(call.request);
      noteDeadline(recording, call);
      for (const feature of features.slice(0, failAfter)) call.write(feature);
      if (failAfter === undefined) call.end();
      else call.emit("error", { code: grpc.status.UNAVAILABLE, details: "the server went away" });
    },
  });
  const rectangle = { lo: point(0, 0), hi: point(10, 10) };

  it("sends the rectangle and returns every streamed feature in order", async () => {
    const recording = record<Rectangle>();
    const { learner, client } = await learnerClientFor(streamingServer(recording, sample));
    const features = await within(learner.listFeatures(client, rectangle), settleMs, "listFeatures()");
    expectEqual(recording.requests, [rectangle], "requests the server received");
    expectEqual(features, sample, "what listFeatures() returned");
  });

  it("returns an empty list for an empty stream", async () => {
    const recording = record<Rectangle>();
    const { learner, client } = await learnerClientFor(streamingServer(recording, []));
    expectEqual(await within(learner.listFeatures(client, rectangle), settleMs, "listFeatures()"), [], "what listFeatures() returned for an empty stream");
  });

  it("rejects when the stream fails midway", async () => {
    const recording = record<Rectangle>();
    const { learner, client } = await learnerClientFor(streamingServer(recording, sample, 2));
    await expectRejection(learner.listFeatures(client, rectangle), grpc.status.UNAVAILABLE, "listFeatures() against a stream that fails after 2 features");
  });

  it("sets a deadline on the call", async () => {
    const recording = record<Rectangle>();
    const { learner, client } = await learnerClientFor(streamingServer(recording, sample));
    await within(learner.listFeatures(client, rectangle), settleMs, "listFeatures()");
    expectDeadline(recording, "ListFeatures");
  });
});

step(8, () => {
  const summary: RouteSummary = { pointCount: 99, featureCount: 7, distance: 12345, elapsedTime: 3 };
  const recordingServer = (recording: Recording<Point>) => ({
    recordRoute(call: grpc.ServerReadableStream<Point, RouteSummary>, callback: grpc.sendUnaryData<RouteSummary>) {
      noteDeadline(recording, call);
      call.on("data", (p: Point) => recording.requests.push(p));
      call.on("end", () => callback(null, summary));
    },
  });

  it("streams every point in order, ends the stream and returns the server's summary", async () => {
    const recording = record<Point>();
    const route = [point(1, 1), point(2, 2), point(3, 3), point(1, 1)];
    const { learner, client } = await learnerClientFor(recordingServer(recording));
    const result = await within(learner.recordRoute(client, route), settleMs, "recordRoute() (the server answers when the stream ends: call end())");
    expectEqual(recording.requests, route, "points the server received");
    expectEqual(result, summary, "what recordRoute() returned");
  });

  it("ends the stream even when there are no points", async () => {
    const recording = record<Point>();
    const { learner, client } = await learnerClientFor(recordingServer(recording));
    expectEqual(await within(learner.recordRoute(client, []), settleMs, "recordRoute([])"), summary, "what recordRoute([]) returned");
  });

  it("sets a deadline on the call", async () => {
    const recording = record<Point>();
    const { learner, client } = await learnerClientFor(recordingServer(recording));
    await within(learner.recordRoute(client, [point(1, 1)]), settleMs, "recordRoute()");
    expectDeadline(recording, "RecordRoute");
  });
});

step(9, () => {
  /** Replies to each note with a numbered reply, and adds `trailing` replies after the client ends; `fail`: fails the call at the first note instead. */
  const chatServer = (recording: Recording<RouteNote>, trailing: RouteNote[] = [], fail = false) => ({
    routeChat(call: grpc.ServerDuplexStream<RouteNote, RouteNote>) {
      noteDeadline(recording, call);
      if (fail) {
        call.once("data", () => call.emit("error", { code: grpc.status.UNAVAILABLE, details: "the server went away" }));
        return;
      }
      call.on("data", (received: RouteNote) => {
        recording.requests.push(received);
        call.write(note(received.location.latitude, received.location.longitude, `reply ${recording.requests.length}`));
      });
      call.on("end", () => {
        if (trailing.length === 0) return call.end();
        // Late replies come after a pause: a client that stops reading when it ends its own side misses them.
        setTimeout(() => {
          for (const late of trailing) call.write(late);
          call.end();
        }, 20);
      });
    },
  });
  const notes = [note(1, 1, "one"), note(2, 2, "two"), note(1, 1, "three")];

  it("sends every note in order and returns every reply in order", async () => {
    const recording = record<RouteNote>();
    const { learner, client } = await learnerClientFor(chatServer(recording));
    const replies = await within(learner.routeChat(client, notes), settleMs, "routeChat() (the server ends its stream after yours: call end())");
    expectEqual(recording.requests, notes, "notes the server received");
    expectEqual(replies, [note(1, 1, "reply 1"), note(2, 2, "reply 2"), note(1, 1, "reply 3")], "what routeChat() returned");
  });

  it("keeps reading until the server ends its stream", async () => {
    const recording = record<RouteNote>();
    const late = [note(9, 9, "late 1"), note(9, 9, "late 2")];
    const { learner, client } = await learnerClientFor(chatServer(recording, late));
    const replies = await within(learner.routeChat(client, [note(1, 1, "only")]), settleMs, "routeChat()");
    expectEqual(replies, [note(1, 1, "reply 1"), ...late], "what routeChat() returned when the server sends more after the client's last note");
  });

  it("sets a deadline on the call", async () => {
    const recording = record<RouteNote>();
    const { learner, client } = await learnerClientFor(chatServer(recording));
    await within(learner.routeChat(client, notes), settleMs, "routeChat()");
    expectDeadline(recording, "RouteChat");
  });

  it("rejects with the server's status code when the call fails", async () => {
    const { learner, client } = await learnerClientFor(chatServer(record<RouteNote>(), [], true));
    await expectRejection(learner.routeChat(client, notes), grpc.status.UNAVAILABLE, "routeChat() against a server that fails the call with UNAVAILABLE");
  });
});
