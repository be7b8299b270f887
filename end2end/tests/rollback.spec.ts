import { test, expect } from '@playwright/test';
import { api, hydrated, settled, signIn } from './helpers';

async function releasesOf(baseURL: string, app: string): Promise<any[]> {
  return api(baseURL, 'GET', `/apps/${app}/releases`);
}

test('the history shows what a rollback changes, and confirming it rolls back', async ({ page, baseURL }) => {
  const app = `r${Date.now().toString(36)}-prod`;
  const [name, space] = app.split('-');
  await api(baseURL!, 'POST', '/apps', { name, space });
  await api(baseURL!, 'PATCH', `/apps/${app}/features/auto-release`, { enabled: true });
  // Each deployed before the next change (a release superseded while queued is skipped).
  await api(baseURL!, 'PATCH', `/apps/${app}/config-vars`, { DATABASE_URL: 'postgres://secret-one', KEEP: 'same' }); // v1
  await settled(baseURL!, app, 1);
  await api(baseURL!, 'POST', `/apps/${app}/builds`, { url: 'docker://registry.local/web:1' }); // v2
  await settled(baseURL!, app, 2);
  await api(baseURL!, 'PATCH', `/apps/${app}/config-vars`, { DATABASE_URL: 'postgres://secret-two', NEW_FLAG: 'on' }); // v3
  await settled(baseURL!, app, 3);
  await api(baseURL!, 'POST', `/apps/${app}/builds`, { url: 'docker://registry.local/web:2' }); // v4
  await settled(baseURL!, app, 4);

  await signIn(page, `/ui/apps/${app}`);
  await expect(page.getByRole('heading', { name: app })).toBeVisible();
  const rows = page.locator('ol.history > li');
  await expect(rows).toHaveCount(4);
  await expect(rows.first()).toContainText('v4');
  await expect(page.locator('li[data-version="4"]')).toContainText('Current');

  // Open the confirmation for v2 and read what would change.
  await page.locator('li[data-version="2"]').getByRole('link', { name: 'Rollback' }).click();
  const dialog = page.getByRole('dialog', { name: 'Roll back to v2?' });
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText('registry.local/web:2');
  await expect(dialog).toContainText('registry.local/web:1');
  await expect(dialog.getByRole('row', { name: /DATABASE_URL/ })).toContainText('changed');
  await expect(dialog.getByRole('row', { name: /NEW_FLAG/ })).toContainText('removed');
  await expect(dialog.getByRole('row', { name: /KEEP/ })).toHaveCount(0);
  await expect(dialog).toContainText('Rolling back does not change your source repository, your databases, or state held in add-ons; reconciling them is up to you. A rolled-back release is a temporary fix: fix the problem and deploy again.');
  const html = await page.content();
  expect(html).not.toContain('secret-one');
  expect(html).not.toContain('secret-two');

  // Reveal one value, on request.
  await dialog.getByRole('button', { name: 'Reveal DATABASE_URL' }).click();
  await expect(dialog.getByRole('row', { name: /DATABASE_URL/ })).toContainText('postgres://secret-two → postgres://secret-one');

  // Cancel changes nothing.
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  expect((await releasesOf(baseURL!, app)).length).toBe(4);

  // Confirm creates the rollback release, and it arrives in the history.
  await page.locator('li[data-version="2"]').getByRole('link', { name: 'Rollback' }).click();
  await dialog.getByRole('button', { name: 'Confirm rollback' }).click();
  await expect(dialog).toBeHidden();
  await expect(rows.first()).toContainText('Rollback to v2');
  await expect(page.locator('li[data-version="5"]')).toContainText('Current');
  await expect(page.getByRole('status').filter({ hasText: 'rolled back' })).toContainText('Running v2, rolled back from v4.');
  const config = await api(baseURL!, 'GET', `/apps/${app}/config-vars`);
  expect(config).toEqual({ DATABASE_URL: 'postgres://secret-one', KEEP: 'same' });

  // The rollback paused auto-deploy; resuming switches it back on.
  await page.getByRole('button', { name: 'Resume auto-deploy' }).click();
  await expect(page.getByRole('button', { name: 'Resume auto-deploy' })).toHaveCount(0);
  const features = await api(baseURL!, 'GET', `/apps/${app}/features`);
  expect(features[0].enabled).toBe(true);
});

test('any two releases can be compared', async ({ page, baseURL }) => {
  const app = `c${Date.now().toString(36)}-prod`;
  const [name, space] = app.split('-');
  await api(baseURL!, 'POST', '/apps', { name, space });
  await api(baseURL!, 'PATCH', `/apps/${app}/config-vars`, { A: 'one' });
  await api(baseURL!, 'PATCH', `/apps/${app}/config-vars`, { A: 'second-secret', B: 'new' });
  await signIn(page, `/ui/apps/${app}`);
  await page.getByLabel('From', { exact: true }).selectOption('1');
  await page.getByLabel('To', { exact: true }).selectOption('2');
  await page.getByRole('button', { name: 'Compare' }).click();
  await expect(page).toHaveURL(new RegExp(`/ui/apps/${app}/compare\\?from=1&to=2`));
  await hydrated(page);
  await expect(page.getByRole('row', { name: /^A/ })).toContainText('changed');
  await expect(page.getByRole('row', { name: /^B/ })).toContainText('added');
  expect(await page.content()).not.toContain('second-secret');
});

test('the rollback dialog works from the keyboard and gives focus back', async ({ page, baseURL }) => {
  const app = `f${Date.now().toString(36)}-prod`;
  const [name, space] = app.split('-');
  await api(baseURL!, 'POST', '/apps', { name, space });
  await api(baseURL!, 'PATCH', `/apps/${app}/config-vars`, { A: '1' });
  await settled(baseURL!, app, 1);
  await api(baseURL!, 'PATCH', `/apps/${app}/config-vars`, { A: '2' });
  await settled(baseURL!, app, 2);
  await signIn(page, `/ui/apps/${app}`);
  const rollback = page.locator('li[data-version="1"]').getByRole('link', { name: 'Rollback' });
  await rollback.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Roll back to v1?' });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(rollback).toBeFocused();
  expect((await releasesOf(baseURL!, app)).length).toBe(2);
});
