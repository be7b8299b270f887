import { test, expect, type Page } from '@playwright/test';
import { api, axe, hydrated, settled } from './helpers';

test('every page passes axe-core', async ({ page, baseURL }) => {
  const app = `a${Date.now().toString(36)}-prod`;
  const [name, space] = app.split('-');
  await api(baseURL!, 'POST', '/apps', { name, space });
  await api(baseURL!, 'PATCH', `/apps/${app}/config-vars`, { A: '1' });
  // Deployed before the next change (a release superseded while queued is skipped).
  await settled(baseURL!, app, 1);
  await api(baseURL!, 'PATCH', `/apps/${app}/config-vars`, { A: '2' });

  await page.goto('/ui/signin');
  await hydrated(page);
  await axe(page, 'sign-in');
  await page.getByRole('button', { name: 'Sign in as local admin' }).click();
  await hydrated(page);
  await axe(page, 'apps');
  for (const path of [`/ui/apps/${app}`, `/ui/apps/${app}/config`, `/ui/apps/${app}/addons`, `/ui/apps/${app}/settings`, `/ui/apps/${app}/compare?from=1&to=2`, '/ui/account', '/ui/users']) {
    await page.goto(path);
    await hydrated(page);
    await axe(page, path);
  }
  await page.goto(`/ui/apps/${app}`);
  await hydrated(page);
  await page.locator('li[data-version="1"]').getByRole('link', { name: 'Rollback' }).click();
  await expect(page.getByRole('dialog')).toContainText('Config vars');
  await axe(page, 'rollback dialog');
});
