// Clicks the rollback button beside an earlier deployment in the history
// under the production card, types the confirm word and checks the result.
//
//   BASE_URL=http://127.0.0.1:PORT/ SCREENSHOT_DIR=/tmp/shots node tests/browser/rollback.mjs
//
// Expects the served config of tests/actions_support/rollback.rs: production
// runs deployment 3; deployment 2 (ccc3333, inactive) is the only target.
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

  const history = page.getByTestId("deployments-production");
  check(await history.isVisible(), "the deployment history is under the production card");
  const rollback = history.getByTestId("action-rollback-production-2");
  check(await rollback.isVisible(), "a rollback button sits beside deployment 2");
  check(await rollback.isEnabled(), "it is enabled");
  check((await history.locator("button[data-action]:not([data-deployment='2'])").count()) === 0, "no button beside the running, failed or errored deployments");
  const dispatch = history.getByTestId("action-rollback-gh-production-2");
  check(await dispatch.isDisabled(), "the dispatched rollback is disabled without a GitHub token");
  check(/needs a GitHub token/.test(await dispatch.getAttribute("title")), "and says why");

  await rollback.click();
  const dialog = page.getByTestId("act-dialog");
  check(await dialog.isVisible(), "clicking opens the confirm dialog");
  const title = await page.locator("#act-title").innerText();
  check(/→ deployment 2 \(ccc3333\)/.test(title), `the dialog names the deployment (${title})`);
  await page.getByTestId("act-input").fill("rollback");
  await page.getByTestId("act-go").click();
  const result = page.getByTestId("act-result");
  await page.waitForFunction(() => /[✓✗]/.test(document.querySelector("[data-testid=act-result]").textContent), null, { timeout: 20000 });
  const text = await result.innerText();
  check(/✓ rollback answered 200/.test(text), `the result is shown in place (${text})`);
  check(!/s3cret/.test(await page.content()), "no secret in the page");
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, "actions-rollback.png"), fullPage: true });
  check(errors.length === 0, `no script errors${errors.length ? ": " + errors.join("; ") : ""}`);
} finally {
  await browser.close();
}

if (failures.length) {
  console.error(`${failures.length} assertion(s) failed:\n- ${failures.join("\n- ")}`);
  process.exit(1);
}
console.log("all assertions held");
