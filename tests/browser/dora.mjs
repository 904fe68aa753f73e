// The DORA panel of a rendered report in the system chromium, dark theme:
// production's four keys as tests/it/dora.rs computed them.
//
//   PAGE=/tmp/dora.html SCREENSHOT_DIR=target/screenshots node tests/browser/dora.mjs
//
// Environment:
//   PAGE            the rendered HTML file (from tests/it/dora.rs); required
//   SCREENSHOT_DIR  where dora.png and dora-phone.png go (default: ./screenshots)
//   CHROMIUM        browser binary (default /usr/bin/chromium)
//
// Exit code 0 when every assertion held, 1 otherwise.

import { chromium } from "playwright-core";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";

const PAGE = process.env.PAGE;
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || "screenshots";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
if (!PAGE) {
  console.error("PAGE is required");
  process.exit(2);
}

const failures = [];
function check(ok, what) {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures.push(what);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
});
try {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: "dark" });
  const page = await context.newPage();
  await page.goto(pathToFileURL(PAGE).href, { waitUntil: "load" });
  const panel = page.getByTestId("dora-panel");
  check((await panel.count()) === 1 && (await panel.isVisible()), "the DORA panel is visible");
  const cell = async (id) => (await page.getByTestId(id).innerText()).replace(/\s+/g, " ").trim();
  const freq = await cell("dora-frequency-production");
  check(/^9 · 0\.3\/day · 2\.1\/week$/.test(freq), `production: 9 deployments, 0.3/day (${freq})`);
  const lead = await cell("dora-lead-production");
  check(/^1h 30m · 1d \(8 commits\)$/.test(lead), `production: lead time 1h 30m, p90 1d (${lead})`);
  const cfr = await cell("dora-cfr-production");
  check(/^20% · 1 failed, 1 rolled back of 10$/.test(cfr), `production: change failure rate 20% (${cfr})`);
  const restore = await cell("dora-restore-production");
  check(/^1h 10m \(2 restores\)/.test(restore), `production: time to restore 1h 10m (${restore})`);
  check(/1 left out/.test(restore), `production: the future-dated deployment is said to be left out (${restore})`);
  // The numbers are drawn, not just in the DOM: the panel has a real size.
  const box = await panel.boundingBox();
  check(box !== null && box.width > 300 && box.height > 60, `the panel has a size (${JSON.stringify(box)})`);
  await panel.screenshot({ path: path.join(SCREENSHOT_DIR, "dora.png") });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(100);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `no horizontal scrolling at 390px (overflow ${overflow}px)`);
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, "dora-phone.png"), fullPage: true });
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(`${failures.length} check(s) failed`);
  process.exit(1);
}
