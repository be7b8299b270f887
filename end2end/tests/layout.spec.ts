import { test, expect } from '@playwright/test';
import { api, hydrated } from './helpers';

// The signed-in pages at a laptop and a phone size: nothing scrolls sideways. Screenshots go
// to end2end/test-results/ for a person to look at.
for (const [label, viewport] of [['laptop', { width: 1366, height: 800 }], ['phone', { width: 390, height: 844 }]] as const) {
  test(`apps and sign-in pages fit a ${label}`, async ({ page, baseURL }) => {
    await page.setViewportSize(viewport);
    await api(baseURL!, 'POST', '/apps', { name: `l${label}${Date.now().toString(36)}`, space: 'staging', description: 'layout check' });
    await page.goto('/ui/signin');
    await hydrated(page);
    await page.screenshot({ path: `end2end/test-results/signin-${label}.png`, fullPage: true });
    await page.getByRole('button', { name: 'Sign in as local admin' }).click();
    await hydrated(page);
    await expect(page.getByRole('heading', { name: 'Apps' })).toBeVisible();
    await page.screenshot({ path: `end2end/test-results/apps-${label}.png`, fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
  });
}
