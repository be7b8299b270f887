import { test, expect } from '@playwright/test';
import { api, hydrated, settled } from './helpers';

test('sign in as local admin and see the apps list after hydration', async ({ page, baseURL }) => {
  const name = `e${Date.now().toString(36)}`;
  await api(baseURL!, 'POST', '/apps', { name, space: 'prod' });
  await api(baseURL!, 'PATCH', `/apps/${name}-prod/config-vars`, { GREETING: 'hello' });
  // The list shows the current release: the one a worker has deployed.
  await settled(baseURL!, `${name}-prod`, 1);

  await page.goto('/ui/apps');
  await expect(page).toHaveURL(/\/ui\/signin\?next=/);
  await page.getByRole('button', { name: 'Sign in as local admin' }).click();
  await expect(page).toHaveURL(/\/ui\/apps$/);
  await hydrated(page);

  await expect(page.getByRole('heading', { name: 'Apps' })).toBeVisible();
  const row = page.getByRole('row', { name: new RegExp(`${name}-prod`) });
  await expect(row.getByRole('link', { name: `${name}-prod` })).toHaveAttribute('href', `/ui/apps/${name}-prod`);
  await expect(row).toContainText('v1');
  await expect(row).toContainText('Set GREETING config vars');
});

test('the apps page works without a session only through sign-in', async ({ page }) => {
  const res = await page.goto('/ui/signin');
  expect(res?.status()).toBe(200);
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Sign in to Slipway' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Sign in with GitHub' })).toHaveCount(0);
});
