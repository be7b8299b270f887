import { test, expect } from '@playwright/test';
import { api, hydrated, signIn } from './helpers';

test('config vars: set, change, reveal and remove, each a release', async ({ page, baseURL }) => {
  const app = `k${Date.now().toString(36)}-prod`;
  const [name, space] = app.split('-');
  await api(baseURL!, 'POST', '/apps', { name, space });
  await signIn(page, `/ui/apps/${app}/config`);
  await expect(page.getByRole('heading', { name: 'Set a config var' })).toBeVisible();

  await page.getByLabel('Key', { exact: true }).fill('GREETING');
  await page.getByLabel('Value', { exact: true }).fill('hello-secret');
  await page.getByRole('button', { name: 'Set', exact: true }).click();
  await expect(page.getByRole('status')).toContainText('created release v1');
  const row = page.getByRole('row', { name: /GREETING/ });
  await expect(row).toBeVisible();
  expect(await page.content()).not.toContain('hello-secret');

  await page.getByLabel('Key', { exact: true }).fill('GREETING');
  await page.getByLabel('Value', { exact: true }).fill('changed-secret');
  await page.getByRole('button', { name: 'Set', exact: true }).click();
  await expect(page.getByRole('status')).toContainText('created release v2');

  await row.getByRole('button', { name: 'Reveal GREETING' }).click();
  await expect(row).toContainText('changed-secret');

  await row.getByRole('button', { name: 'Remove GREETING' }).click();
  await expect(page.getByRole('status')).toContainText('created release v3');
  await expect(page.getByRole('row', { name: /GREETING/ })).toHaveCount(0);

  // A bad key is refused where it was typed, and nothing is created. (Before the page is live
  // the form posts plainly and the page that comes back says why: nojs.spec.ts.)
  await hydrated(page);
  await page.getByLabel('Key', { exact: true }).fill('PORT');
  await page.getByLabel('Value', { exact: true }).fill('80');
  await page.getByRole('button', { name: 'Set', exact: true }).click();
  await expect(page.getByRole('alert')).toContainText('PORT is reserved');
  // …and kept what was typed.
  await expect(page.getByLabel('Key', { exact: true })).toHaveValue('PORT');
  const releases = await api(baseURL!, 'GET', `/apps/${app}/releases`);
  expect(releases.map((r: any) => r.description)).toEqual([
    'Set GREETING config vars', 'Set GREETING config vars', 'Remove GREETING config vars',
  ]);
});

test('deploying an image from the app page adds a release', async ({ page, baseURL }) => {
  const app = `d${Date.now().toString(36)}-prod`;
  const [name, space] = app.split('-');
  await api(baseURL!, 'POST', '/apps', { name, space });
  await signIn(page, `/ui/apps/${app}`);
  await page.getByText('Build or deploy…').click();
  await page.getByLabel('Image', { exact: true }).fill('registry.local/web:7');
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await expect(page.getByText('Deploying as release v1.')).toBeVisible();
  await expect(page.locator('li[data-version="1"]')).toContainText('Current');
  const a = await api(baseURL!, 'GET', `/apps/${app}`);
  expect(a.image).toBe('registry.local/web:7');
});

test('a release that fails says why, and the previous one stays current', async ({ page, baseURL }) => {
  const app = `f${Date.now().toString(36)}-prod`;
  const [name, space] = app.split('-');
  await api(baseURL!, 'POST', '/apps', { name, space });
  await signIn(page, `/ui/apps/${app}`);
  await page.getByText('Build or deploy…').click();
  await page.getByLabel('Image', { exact: true }).fill('registry.local/web:1');
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await expect(page.locator('li[data-version="1"]')).toContainText('Current');
  await page.getByText('Build or deploy…').click();
  await page.getByLabel('Image', { exact: true }).fill('slipway-test/exits');
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  const v2 = page.locator('li[data-version="2"]');
  await expect(v2).toContainText('failed', { timeout: 30_000 });
  await v2.getByText('Why it failed').click();
  await expect(v2.locator('details.failure pre')).toContainText('exited with code 3');
  await expect(v2.locator('details.failure pre')).toContainText('boom');
  await expect(page.locator('li[data-version="1"]')).toContainText('Current');
});
