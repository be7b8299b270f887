// Bytes before each page is interactive, and the history page's time to interactive on a slow
// phone, measured in Chromium. For every page: every response until <body data-hydrated>
// (transferred = encoded body as sent, decoded = body as used), split into the document and
// the code and style (wasm + JS + CSS). Then the history page with a 4x CPU slowdown and
// DevTools' "Fast 3G" profile: first paint and interactive (data-hydrated), cold cache.
//   node scripts/bundle.mjs BASE COOKIE APP        (bench.sh runs it)
import { chromium } from 'playwright-core';

const [base, cookie, app] = process.argv.slice(2);
const [name, value] = cookie.split(/=(.*)/s);
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args });

async function context() {
  const ctx = await browser.newContext();
  await ctx.addCookies([{ name, value, url: base }]);
  return ctx;
}

const pages = [
  ['signin', '/ui/signin'],
  ['apps', '/ui/apps'],
  ['history', `/ui/apps/${app}`],
  ['history deep', `/ui/apps/${app}?before=5000`],
  ['rollback page', `/ui/apps/${app}/releases/v9000/rollback`],
  ['compare', `/ui/apps/${app}/compare?from=1&to=2`],
  ['config', `/ui/apps/${app}/config`],
  ['settings', `/ui/apps/${app}/settings`],
  ['account', '/ui/account'],
  ['users', '/ui/users'],
];
const kb = (n) => (n / 1024).toFixed(1).padStart(7);
console.log('page              document (sent/decoded KB)   code+style (sent/decoded KB)   total sent KB');
for (const [label, path] of pages) {
  const ctx = await context();
  const page = await ctx.newPage();
  const seen = [];
  page.on('response', (r) => seen.push(r));
  await page.goto(base + path);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 30_000 });
  let doc = [0, 0], code = [0, 0];
  for (const r of seen) {
    const sizes = await r.request().sizes();
    const body = await r.body().catch(() => Buffer.alloc(0));
    const into = /\.(wasm|js|css)(\?|$)/.test(r.url()) ? code : doc;
    into[0] += sizes.responseBodySize; into[1] += body.length;
  }
  console.log(`${label.padEnd(18)}${kb(doc[0])} /${kb(doc[1])}              ${kb(code[0])} /${kb(code[1])}              ${kb(doc[0] + code[0])}`);
  await ctx.close();
}

// The history page on a slow phone, cold cache.
const ctx = await context();
const page = await ctx.newPage();
const cdp = await ctx.newCDPSession(page);
await cdp.send('Network.enable');
await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
// DevTools' "Fast 3G": 1.6 Mbit/s down, 750 kbit/s up (each x 0.9), 150 ms x 3.75 latency.
await cdp.send('Network.emulateNetworkConditions', {
  offline: false, latency: 562.5,
  downloadThroughput: (1.6 * 1024 * 1024 / 8) * 0.9, uploadThroughput: (750 * 1024 / 8) * 0.9,
});
await page.addInitScript(() => {
  new MutationObserver(() => {
    if (document.body?.dataset.hydrated === 'true' && !window.__interactive) window.__interactive = performance.now();
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-hydrated'] });
});
await page.goto(`${base}/ui/apps/${app}`);
await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 120_000 });
const t = await page.evaluate(() => ({
  fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
  interactive: window.__interactive,
}));
console.log(`history page, 4x CPU slowdown + Fast 3G, cold: first contentful paint ${Math.round(t.fcp)} ms, interactive ${Math.round(t.interactive)} ms (the Rollback links work from first paint: they go to the confirmation page)`);
await browser.close();
