/**
 * Lab 10, steps 4 and 5: the learner's page (src/page.ts) in a real headless
 * browser, calling the checks' own gRPC-Web Greeter from another origin (so
 * a gateway bug cannot fail these steps). The checks decide every answer and
 * when it is sent, and read what the page renders: #greeting, #counts (one
 * <li> a message) and #status (the status code's name).
 */
import * as grpc from "@grpc/grpc-js";
import { expectEqual, expectTrue, step } from "../../../scripts/check-kit";
import { browserReady, type OpenPage, pageServer, prepareBrowser } from "./browser";
import { type CountRequest, type HelloRequest, type PageCall, referenceWebServer, token, waitFor } from "./web";

prepareBrowser();

/**
 * A check in the browser. Opening a page and waiting for it to render takes
 * longer than an RPC on a loaded machine, so these checks get 8 s instead of
 * the run's 5 (the runner gives up on a judge silent for 10 s), counted once
 * the browser has started: the first checks wait for it, with a limit of its own.
 */
function inBrowser(name: string, check: () => Promise<void>): void {
  it(name, async function () {
    this.timeout(8000);
    await browserReady();
    this.timeout(8000); // starts the check's time again
    await check();
  });
}

/** The learner's page, open, and the calls the checks' Greeter received from it. */
async function openPage(): Promise<{ page: OpenPage; calls: PageCall[] }> {
  const server = await pageServer();
  const calls: PageCall[] = [];
  const greeter = await referenceWebServer(server.origin, (call) => calls.push(call));
  return { page: await server.open(greeter), calls };
}

/**
 * Clicks a button; false when no code of the page could hear the click (no
 * listener, before or after it): such a click can change nothing, and the
 * check need not wait to see that it did not.
 */
async function clickHeard(page: OpenPage, button: string): Promise<boolean> {
  const before = await page.hearsClick(button);
  await page.click(button);
  return before || (await page.hearsClick(button));
}

/** What the page threw or logged as an error, for a failure's message. */
const reported = (page: OpenPage) => (page.errors.length > 0 ? ` (the page reported: ${page.errors.slice(0, 2).join("; ")})` : "");

/** Why a click did nothing that no code of the page heard. */
const unheard = (page: OpenPage, button: string, what: string) => `a click on #${button} ${what}: nothing on the page listens for clicks on it (add a listener in mount())${reported(page)}`;

/** Clicks a button and waits for the call it makes; fails when the Greeter received none within 2 s. */
async function click(page: OpenPage, button: string, calls: PageCall[], method: string): Promise<PageCall> {
  const before = calls.length;
  expectTrue(await clickHeard(page, button), unheard(page, button, "made no call to the Greeter"));
  const arrived = await waitFor(() => calls.length > before, 2000);
  expectTrue(arrived, `a click on #${button} made no call to the Greeter within 2 s${reported(page)}`);
  const call = calls[before]!;
  expectEqual(call.method, method, `the method a click on #${button} called`);
  return call;
}

/** A status as the page shows it, reduced to letters: "INVALID_ARGUMENT", "InvalidArgument" and "invalid argument" all match. */
const letters = (text: string) => text.toLowerCase().replace(/[^a-z]/g, "");
const shows = (id: string, wanted: string) => `document.getElementById(${JSON.stringify(id)})?.textContent.toLowerCase().replace(/[^a-z]/g, "").includes(${JSON.stringify(letters(wanted))})`;
/**
 * The <li> items of #counts, in the page: the number of each that shows exactly
 * one integer ("42", "n = 42", "#42"), the text of any other.
 */
const items = async (page: OpenPage): Promise<(number | string)[]> => {
  const texts = await page.page.$$eval("#counts li", (lis) => lis.map((li) => (li.textContent ?? "").trim()));
  return texts.map((text) => {
    const integers = text.match(/\d+/g) ?? [];
    return integers.length === 1 ? Number(integers[0]) : text;
  });
};
const itemCount = (n: number) => `document.querySelectorAll("#counts li").length >= ${n}`;
/** An item of #counts shows the number n, and no other integer. */
const itemShowing = (n: number) => `[...document.querySelectorAll("#counts li")].some((li) => (li.textContent.match(/\\d+/g) ?? []).join() === "${n}")`;

step(4, () => {
  inBrowser("calls SayHello with the name in #name and shows the answer in #greeting", async () => {
    const { page, calls } = await openPage();
    const name = `ada-${token()}`;
    await page.fill("name", name);
    const call = await click(page, "hello", calls, "SayHello");
    expectEqual((call.request as HelloRequest).name, name, "the name in the page's SayHello request (the value of #name)");
    const answer = `Hello ${name}, from ${token()}`;
    call.send({ message: answer });
    call.end();
    await page.waitUntil(`document.getElementById("greeting")?.textContent.includes(${JSON.stringify(answer)})`, async () => `#greeting showed "${await page.text("greeting")}" 2 s after the Greeter answered "${answer}"`);
  });

  inBrowser("shows a failed call's status code in #status", async () => {
    const { page, calls } = await openPage();
    for (const code of [grpc.status.RESOURCE_EXHAUSTED, grpc.status.FAILED_PRECONDITION]) {
      const call = await click(page, "hello", calls, "SayHello");
      call.end(code, `no greeting today (${token()})`);
      const name = grpc.status[code]!;
      await page.waitUntil(shows("status", name), async () => `#status showed "${await page.text("status")}" 2 s after SayHello failed with ${name}: show the code of the ConnectError (Code[error.code])`);
    }
  });
});

step(5, () => {
  inBrowser("renders each message of a Count stream as it arrives, then the stream's status", async () => {
    const { page, calls } = await openPage();
    const to = 3 + Math.floor(Math.random() * 6);
    await page.fill("to", String(to));
    const call = await click(page, "count", calls, "Count");
    expectEqual((call.request as CountRequest).to, to, `the "to" of the Count request, after #to was set to ${to}`);
    const values = [1, 2, 3].map(() => 10 + Math.floor(Math.random() * 90));
    // The next message is sent only once the page shows the one before: a page that waits for the end never gets there.
    for (const [i, n] of values.entries()) {
      call.send({ n });
      await page.waitUntil(itemCount(i + 1), async () => `#counts showed ${JSON.stringify(await items(page))} 2 s after message ${i + 1} of the stream arrived: add an <li> for each message as it arrives (for await ... of)`);
    }
    expectEqual(await items(page), values, "the numbers of the <li> items of #counts, in order (each item shows its message's n)");
    call.end(grpc.status.UNAVAILABLE, "upstream went away");
    await page.waitUntil(shows("status", "UNAVAILABLE"), async () => `#status showed "${await page.text("status")}" 2 s after the stream failed with UNAVAILABLE`);
    // The same page again: a new stream starts from an empty #counts, and one that ends well shows OK.
    const again = await click(page, "count", calls, "Count");
    again.send({ n: 7 });
    again.end(grpc.status.OK);
    await page.waitUntil(shows("status", "OK"), async () => `#status showed "${await page.text("status")}" 2 s after a second stream ended with OK`);
    expectEqual(await items(page), [7], "the numbers of the <li> items of #counts after a second click on #count and its one message");
  });

  inBrowser("cancels the stream when #cancel is clicked: the call's connection closes", async () => {
    const { page, calls } = await openPage();
    const call = await click(page, "count", calls, "Count");
    call.send({ n: 1 });
    await page.waitUntil(itemCount(1), async () => `#counts showed ${JSON.stringify(await items(page))} 2 s after the first message of the stream arrived`);
    expectTrue(await clickHeard(page, "cancel"), unheard(page, "cancel", "left the Count call open"));
    // 2 s, as the page's other waits: a busy machine hands a background page its turns slowly.
    const closed = await waitFor(() => call.closedAt !== undefined, 2000);
    expectTrue(closed, "the Count call was still open 2 s after a click on #cancel: pass an AbortController's signal to the call and abort() it");
    // Cancel stops that stream only: the next one runs and shows its messages.
    const before = calls.length;
    await page.click("count");
    const started = await waitFor(() => calls.length > before, 2000);
    expectTrue(started, `a click on #count after a cancelled stream made no call to the Greeter within 2 s: create a new AbortController for each stream${reported(page)}`);
    const next = calls[before]!;
    const n = 10 + Math.floor(Math.random() * 90);
    next.send({ n });
    await page.waitUntil(itemShowing(n), async () => `#counts showed ${JSON.stringify(await items(page))} 2 s after a stream started after the cancelled one sent ${n}: create a new AbortController for each stream`);
  });
});
