// Drives the uploader's dashboard in Debian's headless Chromium through playwright-core.
// Run by test_dashboard.py; prints one JSON line with what it saw, and exits non-zero
// (with the reason) when a step fails. Env: PLAYWRIGHT_CORE (module path), BASE_URL,
// TOKEN, CLIP, OPTIONS, SCREENSHOT, CHROMIUM, TIMEOUT_MS.
"use strict";
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

(async () => {
  const timeout = Number(process.env.TIMEOUT_MS || 300000);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
  });
  const seen = { navigations: 0, uploadProgress: [], phases: [], console: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.setDefaultTimeout(timeout);
    page.on("console", (msg) => { if (msg.type() === "error") seen.console.push(msg.text()); });
    page.on("framenavigated", (frame) => { if (frame === page.mainFrame()) seen.navigations += 1; });

    await page.goto(`${env("BASE_URL")}/ui/`);
    await page.fill("#token", env("TOKEN"));
    await page.click("#login-form button[type=submit]");
    await page.waitForSelector("#app:not([hidden])");
    await page.waitForFunction(() => document.querySelector("#connection").textContent === "live");

    // Record every value the progress bar and the phase cells take, from inside the page.
    await page.evaluate(() => {
      window.__seen = { progress: [], phases: [] };
      const bar = document.querySelector("#upload-progress");
      new MutationObserver(() => window.__seen.progress.push(Number(bar.value)))
        .observe(bar, { attributes: true });
      const record = () => document.querySelectorAll("#jobs td.phase").forEach((td) => {
        const last = window.__seen.phases[window.__seen.phases.length - 1];
        if (last !== td.textContent) window.__seen.phases.push(td.textContent);
      });
      new MutationObserver(record).observe(document.querySelector("#jobs tbody"), { childList: true, subtree: true });
      setInterval(() => window.__seen.progress.push(Number(bar.value)), 20);
    });

    if (process.env.OPTIONS) {
      await page.click("details summary");
      await page.fill("#options", process.env.OPTIONS);
    }
    await page.setInputFiles("#file", env("CLIP"));
    await page.click("#upload-button");
    await page.waitForFunction(() => document.querySelector("#upload-progress").value >= 100);
    await page.waitForFunction(() => /created job/.test(document.querySelector("#upload-status").textContent));
    const jobId = (await page.textContent("#upload-status")).replace("created job ", "").trim();
    const row = `#jobs tr[data-job="${jobId}"]`;
    await page.waitForSelector(`${row} td.phase-Succeeded`);
    Object.assign(seen, await page.evaluate(() => ({ uploadProgress: window.__seen.progress, phases: window.__seen.phases })));
    seen.stillSamePage = await page.evaluate(() => window.__seen !== undefined);

    await page.click(`${row} button.play`);
    await page.waitForFunction(() => window.hlsforge.hls && window.hlsforge.hls.levels.length > 0);
    const video = page.locator("#player");
    await video.evaluate((v) => v.play());
    await page.waitForFunction(() => document.querySelector("#player").currentTime > 0.2);
    const t1 = await video.evaluate((v) => v.currentTime);
    await page.waitForTimeout(1500);
    const t2 = await video.evaluate((v) => v.currentTime);
    const levels = await page.evaluate(() => window.hlsforge.hls.levels.map((l) => ({ height: l.height, bitrate: l.bitrate })));
    // The rendition switcher: pick the lowest level explicitly and see hls.js switch to it.
    const options = await page.$$eval("#rendition option", (opts) => opts.map((o) => o.textContent));
    const lowest = levels.reduce((best, l, i) => (l.height < levels[best].height ? i : best), 0);
    await page.selectOption("#rendition", String(lowest));
    await page.waitForFunction((i) => window.hlsforge.hls.currentLevel === i, lowest);
    await page.screenshot({ path: env("SCREENSHOT"), fullPage: true });
    console.log(JSON.stringify({ ok: true, jobId, t1, t2, levels, options, switchedTo: lowest, ...seen }));
  } catch (err) {
    console.log(JSON.stringify({ ok: false, error: String(err && err.stack || err), ...seen }));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
})();
