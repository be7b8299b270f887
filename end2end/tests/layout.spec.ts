import { test, expect } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { api, createToken, settled, hydrated, sourceArchive } from './helpers';

// Each page at a laptop and a phone size: nothing scrolls sideways, and nothing moves when the
// page hydrates (the layout-shift entries Chromium records from the start of the load).
// Screenshots go to end2end/test-results/ for a person to look at.
for (const [label, viewport] of [['laptop', { width: 1366, height: 800 }], ['phone', { width: 390, height: 844 }]] as const) {
  test(`pages fit a ${label}`, async ({ page, baseURL }) => {
    await page.setViewportSize(viewport);
    // Every layout shift of every document, from its first layout on.
    await page.addInitScript(() => {
      const w = window as unknown as { __shift: number; __shifts: PerformanceObserver; __moved: string[] };
      w.__shift = 0;
      w.__moved = [];
      w.__shifts = new PerformanceObserver((list) => {
        // As CLS counts them: a shift within 500 ms of input (here, the click that navigated)
        // is the page answering the user, not the page moving under them.
        for (const e of list.getEntries() as unknown as { value: number; hadRecentInput: boolean; startTime: number; sources?: { node?: Node; previousRect: DOMRect; currentRect: DOMRect }[] }[]) {
          if (e.hadRecentInput) continue;
          w.__shift += e.value;
          // What moved, for the failure message.
          for (const s of e.sources ?? []) {
            const what = s.node instanceof Element ? s.node.outerHTML.slice(0, 100) : (s.node?.textContent ?? '?').slice(0, 60);
            w.__moved.push(`${Math.round(e.startTime)} ms ${e.value.toFixed(4)}: ${what} ${JSON.stringify(s.previousRect)} -> ${JSON.stringify(s.currentRect)}`);
          }
        }
      });
      w.__shifts.observe({ type: 'layout-shift' });
    });
    const app = `l${label}${Date.now().toString(36)}-staging`;
    const [name, space] = app.split('-');
    await api(baseURL!, 'POST', '/apps', { name, space, description: 'layout check' });
    // Each deployed before the next change (a release superseded while queued is skipped).
    await api(baseURL!, 'PATCH', `/apps/${app}/config-vars`, { LOG_LEVEL: 'info', A_RATHER_LONG_CONFIG_VAR_NAME: 'x' });
    await settled(baseURL!, app, 1);
    await api(baseURL!, 'POST', `/apps/${app}/builds`, { url: 'docker://registry.example.com/team/a-rather-long-image-name:2026.11.26-abcdef' });
    const builds = await api(baseURL!, 'GET', `/apps/${app}/builds`);
    await api(baseURL!, 'POST', `/apps/${app}/releases`, { slug: builds[0].id });
    await settled(baseURL!, app, 2);
    await api(baseURL!, 'PATCH', `/apps/${app}/config-vars`, { LOG_LEVEL: 'debug' });
    const source = 'data:application/gzip;base64,' + readFileSync(sourceArchive(30)).toString('base64');
    const build = await api(baseURL!, 'POST', `/apps/${app}/builds`, { url: source });

    const shots: [string, string][] = [];
    const noOverflow = async (shot: string) => {
      await page.screenshot({ path: `end2end/test-results/${shot}-${label}.png`, fullPage: true });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, `${shot} scrolls sideways`).toBeLessThanOrEqual(0);
      shots.push([shot, label]);
    };
    const noLayoutShift = async (shot: string) => {
      // Two frames, so whatever hydration changed has been laid out (and any shift recorded).
      await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
      const shift = await page.evaluate(() => {
        const w = window as unknown as { __shift: number; __shifts: PerformanceObserver };
        const pending = w.__shifts.takeRecords() as unknown as { value: number; hadRecentInput: boolean }[];
        return w.__shift + pending.filter((e) => !e.hadRecentInput).reduce((sum, e) => sum + e.value, 0);
      });
      const moved = await page.evaluate(() => (window as unknown as { __moved: string[] }).__moved.join('\n'));
      expect(shift, `${shot} moved while loading and hydrating:\n${moved}`).toBeLessThan(0.001);
    };
    await page.goto('/ui/signin');
    await hydrated(page);
    await noOverflow('signin');
    await noLayoutShift('signin');
    await page.getByRole('button', { name: 'Sign in as local admin' }).click();
    await hydrated(page);
    await expect(page.getByRole('heading', { name: 'Apps' })).toBeVisible();
    await noOverflow('apps');
    await noLayoutShift('apps');
    await page.goto(`/ui/apps/${app}`);
    await hydrated(page);
    await expect(page.locator('li[data-version="3"]')).toContainText('Current');
    await noOverflow('app');
    await noLayoutShift('app');
    await page.locator('li[data-version="1"]').getByRole('link', { name: 'Rollback' }).click();
    await expect(page.getByRole('dialog')).toContainText('LOG_LEVEL');
    await noOverflow('rollback-dialog');
    await page.getByRole('button', { name: 'Cancel' }).click();
    // The same confirmation as a page of its own (what the link opens without JavaScript).
    await page.goto(`/ui/apps/${app}/releases/v1/rollback`);
    await hydrated(page);
    await expect(page.getByRole('button', { name: 'Confirm rollback' })).toBeVisible();
    await noOverflow('rollback-page');
    await noLayoutShift('rollback-page');
    await page.goto(`/ui/apps/${app}/config`);
    await hydrated(page);
    await expect(page.getByRole('row', { name: /LOG_LEVEL/ })).toBeVisible();
    await noOverflow('config');
    await noLayoutShift('config');
    await page.goto(`/ui/apps/${app}/compare?from=1&to=3`);
    await hydrated(page);
    await noOverflow('compare');
    await noLayoutShift('compare');
    await page.goto(`/ui/apps/${app}/settings`);
    await hydrated(page);
    await expect(page.getByRole('button', { name: 'Delete app' })).toBeVisible();
    await noOverflow('settings');
    await noLayoutShift('settings');
    await page.goto(`/ui/apps/${app}/builds/${build.id}`);
    await hydrated(page);
    await expect(page.getByText('Finished: SUCCESS')).toBeVisible({ timeout: 45_000 });
    await noOverflow('build');
    await noLayoutShift('build');
    await api(baseURL!, 'POST', `/apps/${app}/addons`, { plan: 'slipway-postgresql:standard', attachment: { name: 'a-long-db-name-for-it' } });
    await page.goto(`/ui/apps/${app}/addons`);
    await hydrated(page);
    await expect(page.getByRole('region', { name: 'a-long-db-name-for-it' })).toContainText('DATABASE_URL');
    await noOverflow('addons');
    await noLayoutShift('addons');
    await page.getByText('Destroy…').click();
    await expect(page.getByLabel('Type a-long-db-name-for-it to confirm')).toBeVisible();
    await noOverflow('addons-destroy');
    await page.goto('/ui/account');
    await hydrated(page);
    await createToken(page, `layout ${label}`);
    await expect(page.getByRole('status').filter({ hasText: 'not shown again' })).toBeVisible();
    await noOverflow('account');
    await page.goto('/ui/users');
    await hydrated(page);
    await expect(page.locator('table.users')).toBeVisible();
    await noOverflow('users');
    await noLayoutShift('users');
  });
}
