import { test, expect } from '@playwright/test';
import { api, hydrated, signIn } from './helpers';

// Chromium fails requests in flight with ERR_NETWORK_CHANGED when a network interface comes or
// goes (the container engine's do as apps start). A lazy island whose code fetch failed once
// never hydrated: wasm-split's loader panics on a failed load.
test('islands come alive when the first fetch of each piece of their code fails', async ({ page, baseURL }) => {
  const app = `n${Date.now().toString(36)}-prod`;
  const [name, space] = app.split('-');
  await api(baseURL!, 'POST', '/apps', { name, space });

  const failed = new Set<string>();
  await page.route('**/pkg/*.wasm', async (route) => {
    const file = new URL(route.request().url()).pathname.split('/').pop()!;
    if (failed.has(file)) return route.continue();
    failed.add(file);
    await route.abort('internetdisconnected');
  });

  await signIn(page, `/ui/apps/${app}/config`);
  // The config form is a lazy island: its own file failed once, and so did the main module.
  expect([...failed].some((f) => f.startsWith('split_set_config_form'))).toBe(true);
  expect(failed.has('slipway.wasm')).toBe(true);

  // The island answers as only it does: a refused key is shown where it was typed, and kept.
  await page.getByLabel('Key', { exact: true }).fill('PORT');
  await page.getByLabel('Value', { exact: true }).fill('80');
  await page.getByRole('button', { name: 'Set', exact: true }).click();
  await expect(page.getByRole('alert')).toContainText('PORT is reserved');
  await expect(page.getByLabel('Key', { exact: true })).toHaveValue('PORT');
  await expect(page).toHaveURL(new RegExp(`/ui/apps/${app}/config$`));
});
