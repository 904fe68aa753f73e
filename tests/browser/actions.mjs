// Clicks an action button on the live dashboard, types the confirm word and
// checks the result shown in place.
//
//   BASE_URL=http://127.0.0.1:PORT/ SCREENSHOT_DIR=/tmp/shots node tests/browser/actions.mjs
//
// Expects a served config with `[serve] actions = true` and a `promote`
// action for `production` beside the drift warning (tests/browser_actions.rs).
// Exit code 0 when every assertion held, 1 otherwise.

import { chromium } from "playwright-core";
import { mkdir } from "node:fs/promises";
import path from "node:path";

const BASE_URL = process.env.BASE_URL;
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || "screenshots";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
if (!BASE_URL) {
  console.error("BASE_URL is required");
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
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});

try {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: "dark" })).newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(BASE_URL, { waitUntil: "load" });

  const drift = page.getByTestId("drift-banner").first();
  check(await drift.isVisible(), "drift warning is visible");
  const promote = page.getByTestId("action-promote-production");
  check(await promote.isVisible(), "promote button is visible beside the drift warning");
  check(await promote.isEnabled(), "promote button is enabled while production is behind");

  // A wrong word is refused and shown in place.
  await promote.click();
  const dialog = page.getByTestId("act-dialog");
  check(await dialog.isVisible(), "clicking opens the confirm dialog");
  await page.getByTestId("act-input").fill("prod");
  await page.getByTestId("act-go").click();
  const result = page.getByTestId("act-result");
  await page.waitForFunction(() => /[✓✗]/.test(document.querySelector("[data-testid=act-result]").textContent));
  check(/✗ confirmation word does not match/.test(await result.innerText()), "a wrong word is refused in the dialog");
  console.log("WRONG_WORD_DONE");

  // The right word runs it.
  await page.getByTestId("act-input").fill("production");
  await page.getByTestId("act-go").click();
  await page.waitForFunction(() => /✓/.test(document.querySelector("[data-testid=act-result]").textContent), null, { timeout: 20000 });
  const text = await result.innerText();
  check(/✓ promote answered 200/.test(text), `the result is shown in place (${text})`);
  check(!/s3cret/.test(await page.content()), "no secret in the page");
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, "actions-promote.png"), fullPage: true });
  check(errors.length === 0, `no script errors${errors.length ? ": " + errors.join("; ") : ""}`);
} finally {
  await browser.close();
}

if (failures.length) {
  console.error(`${failures.length} assertion(s) failed:\n- ${failures.join("\n- ")}`);
  process.exit(1);
}
console.log("all assertions held");
