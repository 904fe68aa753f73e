// The metric panels of a rendered report in the system chromium, dark theme.
//
//   PAGE=target/tmp/metric-panels/metrics.html SCREENSHOT_DIR=target/screenshots node tests/browser/metrics.mjs
//
// Environment:
//   PAGE            the rendered HTML file (from tests/prometheus.rs); required
//   SCREENSHOT_DIR  where metrics-dark.png and metrics-dark-phone.png go (default: ./screenshots)
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
  const foreign = [];
  page.on("request", (req) => {
    if (!req.url().startsWith("file:") && !req.url().startsWith("data:")) foreign.push(req.url());
  });
  await page.goto(pathToFileURL(path.resolve(PAGE)).href, { waitUntil: "load" });

  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(bg === "rgb(10, 10, 10)", `dark background #0A0A0A (got ${bg})`);

  const panels = page.locator('[data-testid^="panel-"]');
  check((await panels.count()) >= 4, "metric panels are rendered");
  // textContent: innerText follows the CSS upper-casing of headings.
  const headings = await panels.locator("h2").allTextContents();
  for (const want of ["Traffic", "Performance", "Cost", "Errors"]) {
    check(headings.includes(want), `panel "${want}" has a heading (${headings.join(", ")})`);
  }

  const p95 = page.locator('[data-testid="metric-latency-p95"]');
  check(await p95.isVisible(), "p95 latency card is visible");
  const value = (await p95.locator(".num").innerText()).trim();
  check(/^\d[\d,.]*$/.test(value), `p95 card shows a big number (got "${value}")`);
  const unit = (await p95.locator(".unit").innerText()).trim();
  check(unit === "ms", `p95 card shows its unit (got "${unit}")`);
  const size = await p95.locator(".num").evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
  check(size >= 28, `the number is big (${size}px)`);
  check((await p95.locator("svg.spark polyline").count()) === 1, "p95 card has a sparkline");
  const stroke = await p95.locator("svg.spark polyline").evaluate((e) => getComputedStyle(e).stroke);
  check(stroke === "rgb(124, 58, 237)", `sparkline is violet #7C3AED (got ${stroke})`);
  const border = await p95.evaluate((e) => getComputedStyle(e).borderLeftColor);
  check(border === "rgb(16, 185, 129)", `an ok card has a green edge (got ${border})`);
  check((await p95.innerText()).includes("warn > 800"), "p95 card shows its thresholds");

  const cost = page.locator('[data-testid="metric-ai-cost"] .metric-value');
  check(/^\$\d/.test((await cost.innerText()).trim()), "cost card puts the currency first");

  const table = page.locator('[data-testid="table-top-errors"] tbody tr');
  check((await table.count()) === 5, "top errors table has 5 rows");
  const first = await table.first().locator("td").first().innerText();
  check(first === "timeout", `top error first (got "${first}")`);

  // Metrics sit below the environment and deploy panels, above the checks table.
  const order = await page.evaluate(() => {
    const y = (s) => document.querySelector(s)?.getBoundingClientRect().top ?? -1;
    return { ci: y('[data-testid="ci-panel"]'), metrics: y('[data-testid^="panel-"]'), checks: y('[data-testid="checks"]') };
  });
  check(order.ci < order.metrics && order.metrics < order.checks, `metrics between deploy panels and checks (${JSON.stringify(order)})`);
  check(foreign.length === 0, `no requests to other origins (${foreign.join(", ")})`);

  await page.locator('[data-testid^="panel-"]').first().scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, "metrics-dark.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, "metrics-dark-phone.png"), fullPage: true });
  const cols = await page.locator(".metric-grid").first().evaluate((e) => getComputedStyle(e).gridTemplateColumns.split(" ").length);
  check(cols === 1, `one card per row on a phone (got ${cols})`);
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(`${failures.length} assertion(s) failed`);
  process.exit(1);
}
