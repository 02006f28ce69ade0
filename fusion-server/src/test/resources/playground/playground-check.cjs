// Drives the playground page in headless Chromium (Debian's, through playwright-core; no browser is downloaded): for
// each mode (chat, then completion) types the prompt, sends it, waits for the stream to finish and hovers over the
// first segment; saves a screenshot of the last and prints what it saw as one JSON line. Run by PlaygroundBrowserTest:
//   PLAYWRIGHT_CORE=<dir of playwright-core> node playground-check.cjs <url> <api key> <prompt> <screenshot.png> <chromium>
"use strict";
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

async function ask(page, mode, prompt) {
  await page.selectOption("#mode", mode);
  await page.fill("#prompt", prompt);
  await page.click("#send");
  await page.waitForSelector("#status[data-state=streaming]", { timeout: 30000 }).catch(() => {});
  await page.waitForSelector("#status[data-state=done], #status[data-state=error]", { timeout: 180000 });
  const seen = {
    state: await page.getAttribute("#status", "data-state"),
    status: await page.textContent("#status"),
    segments: await page.$$eval("#answer .seg", (spans) => spans.map((s) => ({
      text: s.textContent,
      winner: s.dataset.winner,
      background: getComputedStyle(s).backgroundColor,
    }))),
    answer: await page.textContent("#answer"),
  };
  const last = await page.evaluate(() => window.coolFusionLast);
  seen.text = last && last.text;
  seen.finish = last && last.finish;
  seen.details = null;
  if (seen.segments.length) {
    await page.hover("#answer .seg >> nth=0");
    await page.waitForSelector("#candidates", { timeout: 10000 });
    seen.details = await page.$$eval("#candidates tr", (rows) => rows.map((r) =>
      Array.from(r.children).map((c) => c.textContent)));
  }
  return seen;
}

(async () => {
  const [url, key, prompt, screenshot, executablePath] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const failures = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    page.on("pageerror", (e) => failures.push("page error: " + e.message));
    page.on("request", (r) => {
      if (!r.url().startsWith(url)) failures.push("asked for something elsewhere: " + r.url());
    });
    await page.goto(url, { waitUntil: "load" });
    await page.fill("#api-key", key);
    await page.dispatchEvent("#api-key", "change");
    await page.waitForSelector("#legend .chip[data-model]", { timeout: 30000 });
    const defaultMode = await page.inputValue("#mode");
    const legend = await page.$$eval("#legend .chip[data-model]", (chips) => chips.map((c) => ({
      model: c.dataset.model,
      background: getComputedStyle(c).backgroundColor,
    })));
    const chat = await ask(page, "chat", prompt);
    const completion = await ask(page, "completion", prompt);
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(JSON.stringify({ defaultMode, legend, chat, completion, failures }));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error("playground check failed: " + (e && e.stack || e));
  process.exit(1);
});
