// Drives one page in headless Chromium for tests/e2e/test_dashboard.py: Debian's /usr/bin/chromium
// through the pinned playwright-core (tools/playwright.sh installs it into the project's cache; no
// browser is ever downloaded).
//
// Usage: node drive.mjs URL
// Environment: CONTINUUM_PLAYWRIGHT  the node_modules folder holding playwright-core (required)
//              CONTINUUM_CHROMIUM    the browser (default /usr/bin/chromium)
// Protocol: one JSON command per line on stdin, one JSON answer per line on stdout, in order:
//   {"wait": SELECTOR, "timeout_ms": N}  until an element matching SELECTOR is in the page
//   {"text": SELECTOR}                   the text of the first element matching SELECTOR
//   {"count": SELECTOR}                  how many elements match SELECTOR
//   {"screenshot": PATH}                 the whole page as PNG at PATH
//   {"quit": true}                       closes the browser and exits
// Answers: {"ok": true, ...} ("text", "count") or {"ok": false, "error": "..."}. The first line,
// once the page has drawn the hub's data at least once, is {"ready": true, "version": ...}.
// Messages the page logs to its console and its failed requests go to stderr.
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const url = process.argv[2];
const modules = process.env.CONTINUUM_PLAYWRIGHT;
if (!url || !modules) {
  console.error("usage: CONTINUUM_PLAYWRIGHT=NODE_MODULES node drive.mjs URL");
  process.exit(2);
}
const { chromium } = createRequire(join(modules, "noop.js"))("playwright-core");

const profile = mkdtempSync(join(tmpdir(), "continuum-chromium-"));
const answer = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CONTINUUM_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  // playwright-core passes --user-data-dir=<profile> itself: a fresh one per run.
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const page = context.pages()[0] || (await context.newPage());
page.on("console", (m) => console.error("page console " + m.type() + ": " + m.text()));
page.on("pageerror", (e) => console.error("page error: " + e.message));
page.on("requestfailed", (r) => console.error("request failed: " + r.url() + " " + (r.failure()?.errorText ?? "")));

async function close(code) {
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  process.exit(code);
}

try {
  await page.goto(url, { waitUntil: "load", timeout: 30000 });
  await page.waitForSelector("body[data-loaded=true]", { state: "attached", timeout: 30000 });
} catch (e) {
  answer({ ready: false, error: String(e.message || e) });
  await close(1);
}
answer({ ready: true, version: context.browser()?.version() ?? "" });

async function run(cmd) {
  if ("wait" in cmd) {
    await page.waitForSelector(cmd.wait, { state: "attached", timeout: cmd.timeout_ms ?? 30000 });
    return {};
  }
  if ("text" in cmd) return { text: (await page.locator(cmd.text).first().textContent()) ?? "" };
  if ("count" in cmd) return { count: await page.locator(cmd.count).count() };
  if ("screenshot" in cmd) {
    await page.screenshot({ path: cmd.screenshot, fullPage: true });
    return {};
  }
  throw new Error("unknown command " + JSON.stringify(cmd));
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    answer({ ok: false, error: "not JSON: " + e.message });
    continue;
  }
  if (cmd.quit) break;
  try {
    answer({ ok: true, ...(await run(cmd)) });
  } catch (e) {
    answer({ ok: false, error: String(e.message || e) });
  }
}
await close(0);
