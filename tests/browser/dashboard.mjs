// Drives the villa-telemetry dashboard in the system chromium and takes screenshots.
//
//   BASE_URL=http://127.0.0.1:3003/ STATE=warning SCREENSHOT_DIR=/tmp/shots node tests/browser/dashboard.mjs
//
// Environment:
//   BASE_URL         page to load (http://… of a running `serve`, or file://… of a rendered page); required
//   STATE            what the page is expected to show, and the screenshot name:
//                      warning  (default) env cards, a drift banner and a failed CI run (the demo's drift scenario)
//                      green    env cards, "All systems operational", no drift banner, and Refresh
//                               keeps refreshing in place after live swaps
//                      failing  a failing environment card with its error text, and staging's
//                               verdict line and timeline strip (the demo's down scenario)
//                      offline  loads the page, prints "READY" on stdout, then waits for the harness to
//                               stop the server and for the page to show the offline banner
//                      any      env cards only
//   SCREENSHOT_DIR   where {STATE}.png and {STATE}-phone.png go (default: ./screenshots)
//   CHROMIUM         browser binary (default /usr/bin/chromium)
//   COLOR_SCHEME     dark (default) or light; light screenshots get a "-light" suffix
//   OFFLINE_TIMEOUT  ms to wait for the offline banner (default 30000)
//
// Exit code 0 when every assertion held, 1 otherwise (with the reason on stderr).

import { chromium } from "playwright-core";
import { mkdir } from "node:fs/promises";
import path from "node:path";

const BASE_URL = process.env.BASE_URL;
const STATE = process.env.STATE || "warning";
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || "screenshots";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const COLOR_SCHEME = process.env.COLOR_SCHEME === "light" ? "light" : "dark";
const SUFFIX = COLOR_SCHEME === "light" ? "-light" : "";
const OFFLINE_TIMEOUT = Number(process.env.OFFLINE_TIMEOUT || 30000);

if (!BASE_URL) {
  console.error("BASE_URL is required, e.g. BASE_URL=http://127.0.0.1:3003/");
  process.exit(2);
}

const failures = [];
function check(ok, what) {
  if (ok) console.log(`ok   ${what}`);
  else {
    console.log(`FAIL ${what}`);
    failures.push(what);
  }
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});

try {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const base = new URL(BASE_URL);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: COLOR_SCHEME });
  const page = await context.newPage();

  // The dashboard must not load anything from anywhere else (no CDNs, fonts, analytics).
  const foreign = [];
  page.on("request", (req) => {
    const u = new URL(req.url());
    if (u.protocol === "data:") return;
    if (u.protocol !== base.protocol || u.host !== base.host) foreign.push(req.url());
  });
  const consoleErrors = [];
  page.on("pageerror", (e) => consoleErrors.push(String(e)));

  await page.goto(BASE_URL, { waitUntil: "load" });

  const cards = page.locator('[data-testid^="env-card-"]');
  check((await cards.count()) > 0, "environment cards are rendered");
  check(await cards.first().isVisible(), "first environment card is visible");
  check(await page.getByTestId("summary").isVisible(), "summary banner is visible");
  for (const i of [...Array(await cards.count()).keys()]) {
    const text = await cards.nth(i).innerText();
    check(/(Running|Warning|Error|Offline|Unknown)/.test(text), `card ${i} states its status in words`);
  }

  if (STATE === "warning") {
    const drift = page.getByTestId("drift-banner").first();
    check(await drift.isVisible(), "drift banner is visible");
    check(/behind|ahead|diverged|different|compare/i.test(await drift.innerText()), "drift banner says how the builds differ");
    const failed = page.locator('[data-testid^="ci-"][data-status="failure"]').first();
    check((await failed.count()) > 0 && (await failed.isVisible()), "a failed CI run is visible");
    if ((await failed.count()) > 0) check(/FAILED/.test(await failed.innerText()), "failed CI run is labelled FAILED");
    check((await page.locator('[data-testid^="env-card-"][data-status="warning"]').count()) > 0, "a warning environment card");
    // DORA's panel (issue 21): staging's 3 deployments of the demo's history, none failed.
    const dora = page.getByTestId("dora-staging");
    const doraText = (await dora.count()) === 1 ? (await dora.innerText()).replace(/\s+/g, " ") : "";
    check(/Staging last 30d 3 · 0\.1\/day[\s\S]*0% · 0 failed, 0 rolled back of 3/.test(doraText), `the DORA panel shows staging's 3 deployments, 0% failed: ${doraText}`);
  } else if (STATE === "green") {
    check(/All systems operational/.test(await page.getByTestId("summary").innerText()), 'summary says "All systems operational"');
    check((await page.getByTestId("drift-banner").count()) === 0, "no drift banner");
  } else if (STATE === "failing") {
    const bad = page.locator('[data-testid^="env-card-"][data-status="failing"]').first();
    check((await bad.count()) > 0 && (await bad.isVisible()), "a failing environment card is visible");
    if ((await bad.count()) > 0) check(/Error/.test(await bad.innerText()), 'failing card says "Error"');
    // The demo's down world: staging's card carries its verdict and what changed.
    const verdict = page.getByTestId("verdict-staging");
    check((await verdict.count()) === 1 && (await verdict.isVisible()), "the staging card shows its verdict");
    if ((await verdict.count()) === 1) {
      const said = await verdict.innerText();
      check(/\[(code|infrastructure|config|unknown), (high|medium|low)\]/.test(said), `the verdict reads [cause, confidence]: ${said}`);
      check(/ago \(GitHub deployments\)|\((health check|GitHub CI|compare|local git|observed by serve)\)/.test(said), `the verdict's evidence names its source: ${said}`);
    }
    const strip = page.locator('[data-testid="timeline-staging"] li');
    check((await strip.count()) >= 2 && (await strip.count()) <= 5, `the staging card's timeline strip shows 2 to 5 events (${await strip.count()})`);
    if ((await strip.count()) > 0) check(/deploy #814\s+\w{7}\s+in_progress[\s\S]*ago/.test(await strip.first().innerText()), `the newest event is deploy #814 in progress: ${await strip.first().innerText()}`);
  }

  if (STATE === "green") {
    // The Refresh link sits in a region every live update replaces: each
    // click must still refresh in place (a fetch of ?refresh=1), never by
    // navigating away.
    const refreshes = [];
    page.on("request", (req) => {
      if (req.resourceType() === "fetch" && new URL(req.url()).searchParams.get("refresh") === "1") refreshes.push(req.url());
    });
    let navigations = 0;
    page.on("framenavigated", (f) => { if (f === page.mainFrame()) navigations += 1; });
    for (const n of [1, 2, 3]) {
      const done = page.waitForResponse((r) => new URL(r.url()).searchParams.get("refresh") === "1", { timeout: 15000 }).catch(() => null);
      await page.getByTestId("refresh").click();
      await done;
      await page.waitForFunction(() => !document.body.classList.contains("is-loading"), null, { timeout: 15000 }).catch(() => {});
      check(refreshes.length === n, `Refresh click ${n} refreshes in place (${refreshes.length} fetches)`);
    }
    check(navigations === 0 && !page.url().includes("refresh=1"), `Refresh never navigates away (${navigations} navigations, at ${page.url()})`);
  }

  if (STATE === "offline") {
    check(await page.getByTestId("offline-banner").isHidden(), "offline banner hidden while the server is up");
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, "before-offline.png"), fullPage: true });
    console.log("READY"); // the harness stops the server now
    try {
      await page.getByTestId("offline-banner").waitFor({ state: "visible", timeout: OFFLINE_TIMEOUT });
      check(true, "offline banner appears when the server is gone");
    } catch {
      check(false, `offline banner appears within ${OFFLINE_TIMEOUT} ms of the server going away`);
    }
    check(/Cannot reach telemetry API/.test(await page.getByTestId("offline-banner").innerText()), "offline banner explains the problem");
    check((await cards.count()) > 0, "the last report is still shown");
    check(await page.evaluate(() => document.body.classList.contains("is-offline")), "cards are greyed (body.is-offline)");
  }

  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${STATE}${SUFFIX}.png`), fullPage: true });

  if (STATE !== "offline") {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(100);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `no horizontal scrolling at 390px (overflow ${overflow}px)`);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${STATE}-phone${SUFFIX}.png`), fullPage: true });
  }

  check(foreign.length === 0, `no requests to other origins${foreign.length ? ": " + foreign.join(", ") : ""}`);
  check(consoleErrors.length === 0, `no script errors${consoleErrors.length ? ": " + consoleErrors.join("; ") : ""}`);
} finally {
  await browser.close();
}

if (failures.length) {
  console.error(`${failures.length} assertion(s) failed:\n- ${failures.join("\n- ")}`);
  process.exit(1);
}
console.log(`all assertions held; screenshots in ${SCREENSHOT_DIR}`);
