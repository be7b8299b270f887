import { test, expect } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { api, gate, hydrated, signIn, sourceArchive } from './helpers';

/** The log lines on the page: [seq, text] in document order. */
async function logLines(page: import('@playwright/test').Page): Promise<[number, string][]> {
  return page.locator('ol.log li').evaluateAll(els =>
    els.map(li => [Number(li.id.slice(1)), li.querySelector('.text')!.textContent ?? ''] as [number, string]));
}

test('a build started from the browser streams live, survives a reload, and deploys', async ({ page, baseURL }) => {
  const app = `b${Date.now().toString(36)}-prod`;
  const [name, space] = app.split('-');
  await api(baseURL!, 'POST', '/apps', { name, space });
  await signIn(page, `/ui/apps/${app}`);

  // Auto-deploy on, so the build is released when it succeeds.
  await page.getByRole('switch').click();
  await expect(page.getByRole('switch')).toHaveAttribute('aria-checked', 'true');

  // The build waits at a gate after line 100 until the test has seen what it looks for.
  const held = await gate();
  await page.getByText('Build or deploy…').click();
  await page.getByLabel('or upload an archive').setInputFiles(sourceArchive(200, { gate: held, after: 100 }));
  await page.getByRole('button', { name: 'Build', exact: true }).click();
  await expect(page).toHaveURL(/\/ui\/apps\/[^/]+\/builds\/[0-9a-f-]{36}$/);
  await hydrated(page);

  // Lines arrive while the build runs, coloured as the engine printed them.
  await expect(page.locator('ol.log .text', { hasText: /^line 10$/ })).toBeVisible();
  await expect(page.locator('ol.log .ansi-fg-2', { hasText: 'line 10' })).toBeVisible();
  await expect(page.getByRole('status').filter({ hasText: 'pending' })).toBeVisible();

  // Reload mid-build: the server renders what is stored, the websocket continues from there.
  await page.reload();
  await hydrated(page);
  await expect(page.locator('.link-state')).toHaveText('Live');
  held.open();
  await expect(page.getByText('Finished: SUCCESS')).toBeVisible({ timeout: 45_000 });
  held.close();
  await expect(page.locator('.title-row .status')).toHaveText('succeeded');

  const lines = await logLines(page);
  const seqs = lines.map(([s]) => s);
  expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  const printed = lines.map(([, t]) => t).filter(t => /^line \d+$/.test(t));
  expect(printed).toEqual(Array.from({ length: 200 }, (_, i) => `line ${i + 1}`));
  // The log page's raw download has the same lines.
  const raw = await page.request.get(page.url() + '/log.txt');
  const rawLines = (await raw.text()).trimEnd().split('\n').map(t => t.replace(/\u001b\[[0-9;]*m/g, ''));
  expect(rawLines).toEqual(lines.map(([, t]) => t));

  // Search finds lines and links to them.
  await page.getByLabel('Search the log').fill('line 42');
  await expect(page.getByRole('region', { name: 'Search results' })).toContainText('1 matching line');

  // The build was released and the app answers at its address.
  await page.goto(`/ui/apps/${app}`);
  await hydrated(page);
  const v1 = page.locator('li[data-version="1"]');
  await expect(v1).toContainText('succeeded', { timeout: 30_000 });
  await expect(v1).toContainText('Current');
  await expect(v1.getByRole('link', { name: 'Build log' })).toBeVisible();
  const address = await page.locator('.facts a.mono').getAttribute('href');
  expect(address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const answer = await fetch(`${address}/env.txt`);
  expect(await answer.text()).toContain('PORT=9000');
});

/** A second `slipway serve` (no worker) on the same embedded PostgreSQL: a replica to kill. */
async function replica(port: number): Promise<ChildProcess> {
  const child = spawn(process.env.SLIPWAY_BIN!, ['serve'], {
    env: {
      ...process.env,
      SLIPWAY_DATA_DIR: process.env.E2E_DATA_DIR!,
      SLIPWAY_ADDR: `127.0.0.1:${port}`,
      SLIPWAY_NO_WORKER: 'true',
      SLIPWAY_SITE_ROOT: process.env.SLIPWAY_SITE_ROOT ?? resolve(__dirname, '../../target/site'),
      SLIPWAY_LOG: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((done, fail) => {
    let out = '';
    child.stdout!.on('data', (d) => { out += d; if (out.includes('listening on')) done(); });
    child.on('exit', (code) => fail(new Error(`the replica exited (${code}) before listening`)));
  });
  return child;
}

test('the log page reconnects by itself when its server goes away, and misses nothing', async ({ page, baseURL }) => {
  const app = `c${Date.now().toString(36)}-prod`;
  const [name, space] = app.split('-');
  await api(baseURL!, 'POST', '/apps', { name, space });
  const port = 3471;
  let server = await replica(port);
  // The build waits at a gate after line 80: the page always meets it running.
  const held = await gate();
  try {
    const source = 'data:application/gzip;base64,' +
      readFileSync(sourceArchive(160, { gate: held, after: 80 })).toString('base64');
    const build = await api(baseURL!, 'POST', `/apps/${app}/builds`, { url: source });
    const there = `http://127.0.0.1:${port}`;
    await signIn(page, `${there}/ui/apps/${app}/builds/${build.id}`);
    await expect(page.locator('.link-state')).toHaveText('Live');
    await expect(page.locator('ol.log .text', { hasText: /^line 20$/ })).toBeVisible({ timeout: 45_000 });

    // The replica dies mid-build: the page says so and keeps trying.
    server.kill('SIGKILL');
    await expect(page.locator('.link-state')).toHaveText('Connection lost; reconnecting…');
    server = await replica(port);
    await expect(page.locator('.link-state')).toHaveText('Live');
    held.open();
    await expect(page.getByText('Finished: SUCCESS')).toBeVisible({ timeout: 45_000 });
    await expect(page.locator('.title-row .status')).toHaveText('succeeded');

    const lines = await logLines(page);
    expect(lines.map(([s]) => s)).toEqual(lines.map((_, i) => i + 1));
    const printed = lines.map(([, t]) => t).filter(t => /^line \d+$/.test(t));
    expect(printed).toEqual(Array.from({ length: 160 }, (_, i) => `line ${i + 1}`));
  } finally {
    held.close();
    server.kill('SIGTERM');
  }
});
