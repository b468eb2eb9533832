// console_browser.js URL SCREENSHOT GATE: the console's browser test (0401).
// Debian's chromium, headless, driven by playwright-core (ops/browser.sh;
// NODE_PATH points at it, CHROMIUM at the browser). Opens the run URL of a
// real ACCEPTED reply and follows what the page shows, without reloading
// it (the page's own script refreshes it): RUNNING (the job, gate.sh,
// runs until the file GATE exists, which this script creates once it saw
// RUNNING, so nothing depends on how fast the machine is), then SUCCEEDED with
// the output tail; no script error and no Content-Security-Policy
// violation on the way; then a full-page screenshot. Prints one line per
// step; exit 0 when every step held.
'use strict';
const { chromium } = require('playwright-core');

const fs = require('fs');
const [url, shot, gate] = process.argv.slice(2);
const steps = [];
const step = (name, okay, detail) => {
  steps.push(okay);
  console.log(`  ${okay ? 'ok' : 'FAIL'}: browser: ${name}${detail ? ` (${detail})` : ''}`);
};

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/lib/chromium/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const errors = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    let loads = 0;
    page.on('load', () => { loads++; });
    const resp = await page.goto(url, { waitUntil: 'load' });
    step('the run URL answers', resp && (resp.status() === 200 || resp.status() === 404),
         `HTTP ${resp && resp.status()}`);
    const stateIs = (want, ms) => page.waitForFunction(
      (w) => { const e = document.querySelector('#state'); return e && e.textContent === w; },
      want, { timeout: ms, polling: 100 }).then(() => true, () => false);
    step('shows RUNNING while the job runs', await stateIs('RUNNING', 30000));
    const running = await page.textContent('#attempts');
    step('the attempt\'s worker is shown', /w1-/.test(running || ''));
    fs.writeFileSync(gate, 'open\n'); // the job may end now
    step('then SUCCEEDED, without a reload', await stateIs('SUCCEEDED', 30000) && loads === 1,
         `page loads: ${loads}`);
    const out = await page.textContent('#output');
    step('the output tail', /gate .* opened/.test(out || ''), JSON.stringify(out));
    const refresh = await page.getAttribute('body', 'data-refresh');
    step('refreshing stops at the end', refresh === '0', `data-refresh ${refresh}`);
    step('no script error or CSP violation', errors.length === 0, errors.join(' | '));
    await page.screenshot({ path: shot, fullPage: true });
    step('screenshot saved', true, shot);
  } finally {
    if (gate && !fs.existsSync(gate)) fs.writeFileSync(gate, 'open\n');
    await browser.close();
  }
  process.exit(steps.every(Boolean) ? 0 : 1);
})().catch((e) => { console.log(`  FAIL: browser: ${e && e.stack || e}`); process.exit(1); });
