import { test, expect } from '@playwright/test';
import { api, hydrated } from './helpers';

// Each page at a laptop and a phone size: nothing scrolls sideways. Screenshots go to
// end2end/test-results/ for a person to look at.
for (const [label, viewport] of [['laptop', { width: 1366, height: 800 }], ['phone', { width: 390, height: 844 }]] as const) {
  test(`pages fit a ${label}`, async ({ page, baseURL }) => {
    await page.setViewportSize(viewport);
    const app = `l${label}${Date.now().toString(36)}-staging`;
    const [name, space] = app.split('-');
    await api(baseURL!, 'POST', '/apps', { name, space, description: 'layout check' });
    await api(baseURL!, 'PATCH', `/apps/${app}/config-vars`, { LOG_LEVEL: 'info', A_RATHER_LONG_CONFIG_VAR_NAME: 'x' });
    await api(baseURL!, 'POST', `/apps/${app}/builds`, { url: 'docker://registry.example.com/team/a-rather-long-image-name:2026.11.26-abcdef' });
    const builds = await api(baseURL!, 'GET', `/apps/${app}/builds`);
    await api(baseURL!, 'POST', `/apps/${app}/releases`, { slug: builds[0].id });
    await api(baseURL!, 'PATCH', `/apps/${app}/config-vars`, { LOG_LEVEL: 'debug' });

    const shots: [string, string][] = [];
    const noOverflow = async (shot: string) => {
      await page.screenshot({ path: `end2end/test-results/${shot}-${label}.png`, fullPage: true });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, `${shot} scrolls sideways`).toBeLessThanOrEqual(0);
      shots.push([shot, label]);
    };
    await page.goto('/ui/signin');
    await hydrated(page);
    await noOverflow('signin');
    await page.getByRole('button', { name: 'Sign in as local admin' }).click();
    await hydrated(page);
    await expect(page.getByRole('heading', { name: 'Apps' })).toBeVisible();
    await noOverflow('apps');
    await page.goto(`/ui/apps/${app}`);
    await hydrated(page);
    await expect(page.locator('li[data-version="3"]')).toContainText('Current');
    await noOverflow('app');
    await page.locator('li[data-version="1"]').getByRole('button', { name: 'Rollback' }).click();
    await expect(page.getByRole('dialog')).toContainText('LOG_LEVEL');
    await noOverflow('rollback-dialog');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.goto(`/ui/apps/${app}/config`);
    await hydrated(page);
    await expect(page.getByRole('row', { name: /LOG_LEVEL/ })).toBeVisible();
    await noOverflow('config');
    await page.goto(`/ui/apps/${app}/compare?from=1&to=3`);
    await hydrated(page);
    await noOverflow('compare');
    await page.goto(`/ui/apps/${app}/settings`);
    await hydrated(page);
    await expect(page.getByRole('button', { name: 'Delete app' })).toBeVisible();
    await noOverflow('settings');
    await page.goto('/ui/account');
    await hydrated(page);
    await page.getByLabel('Description').fill(`layout ${label}`);
    await page.getByRole('button', { name: 'Create token' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'not shown again' })).toBeVisible();
    await noOverflow('account');
  });
}
