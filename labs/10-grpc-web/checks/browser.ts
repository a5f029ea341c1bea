/**
 * The learner's page in a real headless browser: an installed Chromium or
 * Chrome driven by playwright-core, which never downloads one. The checks
 * bundle src/page.ts with esbuild (the judge reads it, the browser runs it),
 * serve it with the lab's page.html on an origin of their own, and read what
 * the page renders. One browser serves every check of a run (a page for
 * each check).
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type * as net from "node:net";
import * as path from "node:path";
import { type BrowserContext, type CDPSession, chromium, type Page } from "playwright-core";
import { CheckFailure, track, withEsbuild } from "../../../scripts/check-kit";
import { targetDir } from "../../../scripts/check-kit/target";

/**
 * Where browsers are usually installed; CHROMIUM_PATH names another. First
 * Chromium's headless shell (Debian's chromium-headless-shell): the same
 * engine without the desktop browser around it, which Playwright itself
 * prefers for headless runs. Measured here (Chromium 156, three pages open):
 * it starts and opens a page in 0.15 s instead of 0.38 s, its largest
 * process is 99 MB resident instead of 212 MB, and all of it 222 MB
 * (proportional set sizes) instead of 405 MB.
 */
const candidates: Record<string, string[]> = {
  linux: ["/usr/bin/chromium-headless-shell", "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/opt/google/chrome/chrome", "/snap/bin/chromium"],
  darwin: ["/Applications/Google Chrome.app/Contents/MacOS/Google Chrome", "/Applications/Chromium.app/Contents/MacOS/Chromium"],
  win32: [
    path.join(process.env["PROGRAMFILES"] ?? "C:\\Program Files", "Google", "Chrome", "Application", "chrome.exe"),
    path.join(process.env["PROGRAMFILES(X86)"] ?? "C:\\Program Files (x86)", "Microsoft", "Edge", "Application", "msedge.exe"),
  ],
};

/** The browser the checks use: CHROMIUM_PATH, or the first installed one. */
export function browserExecutable(): string {
  const named = process.env.CHROMIUM_PATH;
  if (named) {
    if (!fs.existsSync(named)) throw new CheckFailure(`CHROMIUM_PATH names ${named}, which does not exist: point it at a Chromium, Chrome or Edge executable`);
    return named;
  }
  const found = (candidates[process.platform] ?? []).find((file) => fs.existsSync(file));
  if (!found) {
    throw new CheckFailure(
      "No Chromium, Chrome or Edge is installed where the checks look: install one (Debian: apt-get install chromium-headless-shell, the lightest; Ubuntu: chromium), or set CHROMIUM_PATH to its executable; the checks never download a browser",
    );
  }
  return found;
}

// One browser for the judge, and one context (a profile) in it: kept on globalThis,
// since watch mode reloads the check modules for every run. Each check opens a page of its own.
const shared = globalThis as { grpcLabsBrowser?: Promise<BrowserContext> };

/** How long the browser may take to start (a loaded machine): the runner gives up on a judge silent for 10 s. */
const launchLimitMs = 8000;

/**
 * The pages draw text, never WebGL, so the browser needs no GL (its GPU
 * process then holds no GL driver), and its network service can run inside
 * the browser process instead of one of its own (unknown to a browser that
 * lacks it, a feature name is ignored). Measured with lab 10's starter
 * (four pages open): Chromium 25 MB smaller, 237 instead of 261 MB
 * (proportional set sizes), and no slower.
 */
const lighterBrowser = ["--use-gl=disabled", "--enable-features=NetworkServiceInProcess2"];

async function launch(): Promise<BrowserContext> {
  const executablePath = browserExecutable();
  try {
    const browser = await chromium.launch({ executablePath, headless: true, timeout: launchLimitMs, args: lighterBrowser });
    return await browser.newContext();
  } catch (error) {
    throw new CheckFailure(`${executablePath} did not start as a headless browser: ${(error as Error).message.split("\n")[0]}`);
  }
}

async function browserContext(): Promise<BrowserContext> {
  const current = shared.grpcLabsBrowser;
  const running = await current?.catch(() => undefined);
  if (running?.browser()?.isConnected()) return running;
  // Checks that found it gone at the same time start one browser, not one each.
  if (shared.grpcLabsBrowser === current) shared.grpcLabsBrowser = launch();
  return shared.grpcLabsBrowser!;
}

/**
 * The warm judge's warm-up after a run of this lab (lab.json's judgeWarmUp,
 * JudgeWarmUp in scripts/lib/lab-hooks.ts): the browser starts while the
 * learner reads the last report, and the next run finds it running.
 */
export function warmUp(): void {
  browserContext().catch(() => undefined);
}

/** Closes the browser a warm judge started: its run is of another lab. */
export async function release(): Promise<void> {
  const running = await shared.grpcLabsBrowser?.catch(() => undefined);
  shared.grpcLabsBrowser = undefined;
  await running?.browser()?.close();
}

/** Resolves once the browser has started (or rejects with why it did not). */
export async function browserReady(): Promise<void> {
  await browserContext();
}

/**
 * Starts the browser and bundles src/page.ts while the checks load: both
 * take a second or two, which no check should wait for. Their errors are the
 * browser checks' to report.
 */
export function prepareBrowser(): void {
  browserContext().catch(() => undefined);
  bundlePage().catch(() => undefined);
}

/** src/page.ts bundled for the browser, once a run. */
const bundles = new Map<string, Promise<string>>();

const activeMutant = process.env.__STRYKER_ACTIVE_MUTANT__;

function bundlePage(): Promise<string> {
  const tree = targetDir();
  let bundle = bundles.get(tree);
  if (!bundle) {
    bundle = withEsbuild((esbuild) =>
      esbuild.build({
        entryPoints: [path.join(tree, "src", "page.ts")],
        bundle: true,
        format: "esm",
        platform: "browser",
        target: "es2022",
        write: false,
        logLevel: "silent",
        nodePaths: [path.resolve(__dirname, "..", "..", "..", "node_modules")],
        // Under `npm run mutation`, Stryker picks the active mutant from process.env, which a browser has
        // not got: the bundle sets it where Stryker's instrumented code looks first.
        banner: { js: activeMutant === undefined ? "" : `globalThis.__stryker__ = { activeMutant: ${JSON.stringify(activeMutant)} };` },
      }),
    ).then(
      (result) => result.outputFiles[0]!.text,
      (error: { errors?: Array<{ text: string; location?: { file: string; line: number } | null }> }) => {
        const first = error.errors?.[0];
        const where = first?.location ? `${path.relative(tree, first.location.file).split(path.sep).join("/")}:${first.location.line}: ` : "";
        throw new CheckFailure(`src/page.ts could not be bundled for the browser: ${where}${first?.text ?? String(error)}`);
      },
    );
    bundles.set(tree, bundle);
  }
  return bundle;
}

/** The learner's page, open in the browser, talking to the gRPC-Web server at `gateway`. */
export interface OpenPage {
  page: Page;
  /** Errors the page threw or logged, for failure messages. */
  errors: string[];
  /** Waits until `condition` (run in the page) holds; fails with `failure()`'s sentence after `ms`. */
  waitUntil(condition: string, failure: () => Promise<string>, ms?: number): Promise<void>;
  /** The text of an element of the page. */
  text(id: string): Promise<string>;
  /** Clicks the button with this id. */
  click(id: string): Promise<void>;
  /**
   * Whether a click on the element with this id can reach code of the page:
   * a click listener on it, above it, on document or on window (Chromium's
   * DevTools protocol lists them), or a default action (a button in a form
   * submits it). Where none is, a click changes nothing.
   */
  hearsClick(id: string): Promise<boolean>;
  /** Types a value into the input with this id. */
  fill(id: string, value: string): Promise<void>;
}

/** The page, served; `open` loads it in the browser, talking to the gRPC-Web server at `gateway` ("host:port"). */
export interface PageServer {
  /** The page's origin ("http://127.0.0.1:port"): what a gRPC-Web server must allow. */
  origin: string;
  /** Points the page at a gRPC-Web server ("host:port"). */
  useGateway(gateway: string): void;
  open(gateway: string): Promise<OpenPage>;
}

/** Serves page.html and the bundled src/page.ts on a port of its own (the page's origin); closed after the check. */
export async function pageServer(): Promise<PageServer> {
  const script = await bundlePage();
  const template = fs.readFileSync(path.join(__dirname, "..", "page.html"), "utf8");
  let gateway = "";
  const server = http.createServer((request, response) => {
    if (request.url === "/page.js") return void response.writeHead(200, { "content-type": "text/javascript" }).end(script);
    if (request.url === "/") return void response.writeHead(200, { "content-type": "text/html" }).end(template.replace("GATEWAY_URL", JSON.stringify(gateway)));
    response.writeHead(404).end();
  });
  server.keepAliveTimeout = 200;
  track(() => server.close());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const useGateway = (address: string) => (gateway = `http://${address}`);
  return {
    origin,
    useGateway,
    async open(gatewayAddress) {
      useGateway(gatewayAddress);
      const page = await (await browserContext()).newPage();
      track(() => page.close());
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      page.on("console", (message) => void (message.type() === "error" && errors.push(message.text())));
      // Module scripts run before DOMContentLoaded: mount() has run by then.
      await page.goto(`${origin}/`, { timeout: 3000, waitUntil: "domcontentloaded" });
      const text = async (id: string) => ((await page.textContent(`#${id}`, { timeout: 500 }).catch(() => null)) ?? "").trim();
      let devTools: Promise<CDPSession> | undefined;
      return {
        page,
        errors,
        text,
        // Clicks and typing go through the DOM (element.click(), an input event), as a user's would reach
        // the page's listeners: Playwright's own wait for a "stable" element counts animation frames,
        // which a loaded machine, or a page in the background, hands out slowly.
        async click(id) {
          const found = await page.evaluate(`(() => { const e = document.getElementById(${JSON.stringify(id)}); e?.click(); return e !== null; })()`);
          if (!found) throw new CheckFailure(`the page has no #${id}: keep the elements of page.html`);
        },
        async fill(id, value) {
          const found = await page.evaluate(
            `(() => { const e = document.getElementById(${JSON.stringify(id)}); if (!e) return false; e.value = ${JSON.stringify(value)};` +
              ` for (const type of ["input", "change"]) e.dispatchEvent(new Event(type, { bubbles: true })); return true; })()`,
          );
          if (!found) throw new CheckFailure(`the page has no #${id}: keep the elements of page.html`);
        },
        async hearsClick(id) {
          const session = await (devTools ??= page.context().newCDPSession(page));
          // The click's path (the element, its ancestors, window), or null where the click has a default action.
          const { result } = await session.send("Runtime.evaluate", {
            expression:
              `(() => { const e = document.getElementById(${JSON.stringify(id)}); if (!e || e.closest("form") || e.hasAttribute("commandfor") || e.hasAttribute("popovertarget")) return null;` +
              ` const path = []; for (let n = e; n; n = n.parentNode) path.push(n); path.push(window); return path; })()`,
          });
          if (!result.objectId) return true;
          const { result: entries } = await session.send("Runtime.getProperties", { objectId: result.objectId, ownProperties: true });
          for (const { name, value } of entries) {
            if (!/^\d+$/.test(name) || !value?.objectId) continue;
            const { listeners } = await session.send("DOMDebugger.getEventListeners", { objectId: value.objectId });
            if (listeners.some((listener) => listener.type === "click")) return true;
          }
          return false;
        },
        async waitUntil(condition, failure, ms = 2000) {
          const held = await page.waitForFunction(condition, undefined, { timeout: ms, polling: 20 }).then(
            () => true,
            () => false,
          );
          if (held) return;
          const thrown = errors.length > 0 ? ` (the page reported: ${errors.slice(0, 2).join("; ")})` : "";
          throw new CheckFailure(`${await failure()}${thrown}`);
        },
      };
    },
  };
}
