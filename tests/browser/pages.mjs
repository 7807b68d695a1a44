// Drives Debian's chromium (headless, through playwright-core) over the exporter's pages and
// prints what a person sees as one JSON object on stdout; tests/diagnose_browser.rs judges it.
//
//   node pages.mjs BASE_URL SCREENSHOT_DIR
//
// Env: PLAYWRIGHT_CORE (the module's path), CHROMIUM (the browser binary).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, shots] = process.argv.slice(2);
const { chromium } = await import(process.env.PLAYWRIGHT_CORE);
const profile = mkdtempSync(join(tmpdir(), "gw-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 1100, height: 900 },
});
const result = {};
try {
  const page = await context.newPage();
  const response = await page.goto(`${base}/diagnose`);
  result.status = response.status();
  result.title = await page.title();
  result.heading = await page.locator("h1").first().innerText();
  // The first fault as the page states it: the verdict and its fields.
  const fault = page.locator("section.finding.fault").first();
  result.verdict = {
    cause: await fault.getAttribute("data-cause"),
    summary: await fault.locator(".verdict").innerText(),
    fields: Object.fromEntries(
      await fault.locator("dl dt").evaluateAll((dts) =>
        dts.map((dt) => [dt.innerText, dt.nextElementSibling.innerText])),
    ),
    fix: await fault.locator("h4:text('Fix') + ul li").allInnerTexts(),
  };
  // Every link of the page, fetched as the browser would follow it.
  const hrefs = await page.locator("a[href]").evaluateAll((as) => as.map((a) => a.href));
  result.links = {};
  for (const href of [...new Set(hrefs)]) {
    result.links[href] = (await page.request.get(href)).status();
  }
  await page.screenshot({ path: join(shots, "diagnose.png"), fullPage: true });
  // The runbook link: its page shows the live evidence above the runbook.
  await fault.locator("a.runbook").click();
  await page.waitForLoadState();
  result.runbook = {
    url: page.url(),
    live_causes: await page.locator("#live section.finding").evaluateAll((s) =>
      s.map((e) => e.dataset.cause)),
    headings: await page.locator("article h2").allInnerTexts(),
  };
  // A phone: nothing wider than the screen, text not shrunk.
  const phone = await context.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(`${base}/diagnose`);
  result.phone = await phone.evaluate(() => ({
    viewport: window.innerWidth,
    page_width: document.documentElement.scrollWidth,
    font_px: parseFloat(getComputedStyle(document.querySelector(".verdict")).fontSize),
  }));
  await phone.screenshot({ path: join(shots, "diagnose-phone.png"), fullPage: true });
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
