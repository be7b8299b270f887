import { test, expect } from '@playwright/test';
import { api, createToken, settled } from './helpers';

// Every action works with JavaScript off: the forms post, the server answers with the page that
// shows what happened, and a rollback is confirmed on its own page.
test.use({ javaScriptEnabled: false });

test('without JavaScript: roll back through the confirmation page, set a config var, create a token', async ({ page, baseURL }) => {
  const app = `n${Date.now().toString(36)}-prod`;
  const [name, space] = app.split('-');
  await api(baseURL!, 'POST', '/apps', { name, space });
  await api(baseURL!, 'PATCH', `/apps/${app}/config-vars`, { DATABASE_URL: 'postgres://secret-one' }); // v1
  await settled(baseURL!, app, 1);
  await api(baseURL!, 'PATCH', `/apps/${app}/config-vars`, { DATABASE_URL: 'postgres://secret-two', NEW_FLAG: 'on' }); // v2
  await settled(baseURL!, app, 2);

  await page.goto(`/ui/apps/${app}`);
  await page.getByRole('button', { name: 'Sign in as local admin' }).click();
  await expect(page.getByRole('heading', { name: app })).toBeVisible();
  await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');

  // "Rollback" is a link to a page with the same diff, masked values and warning.
  await page.locator('li[data-version="1"]').getByRole('link', { name: 'Rollback' }).click();
  await expect(page).toHaveURL(new RegExp(`/ui/apps/${app}/releases/v1/rollback$`));
  await expect(page.getByRole('heading', { name: 'Roll back to v1?' })).toBeVisible();
  await expect(page.getByRole('row', { name: /DATABASE_URL/ })).toContainText('changed');
  await expect(page.getByRole('row', { name: /NEW_FLAG/ })).toContainText('removed');
  await expect(page.getByText('Rolling back does not change your source repository')).toBeVisible();
  const html = await page.content();
  expect(html).not.toContain('secret-one');
  expect(html).not.toContain('secret-two');
  // Reveal asks for the page again with that one key's values.
  await page.getByRole('button', { name: 'Reveal DATABASE_URL' }).click();
  await expect(page.getByRole('row', { name: /DATABASE_URL/ })).toContainText('postgres://secret-two → postgres://secret-one');
  await expect(page.getByRole('row', { name: /NEW_FLAG/ })).not.toContainText('on');
  // Cancel goes back and changes nothing.
  await page.getByRole('link', { name: 'Cancel' }).click();
  await expect(page).toHaveURL(new RegExp(`/ui/apps/${app}$`));
  expect((await api(baseURL!, 'GET', `/apps/${app}/releases`)).length).toBe(2);

  await page.locator('li[data-version="1"]').getByRole('link', { name: 'Rollback' }).click();
  await page.getByRole('button', { name: 'Confirm rollback' }).click();
  await expect(page).toHaveURL(new RegExp(`/ui/apps/${app}\\?did=rolling-back&v=3$`));
  await expect(page.getByRole('status').filter({ hasText: 'Rolling back' })).toContainText('release v3');
  await expect(page.locator('li[data-version="3"]')).toContainText('Rollback to v1');
  expect(await api(baseURL!, 'GET', `/apps/${app}/config-vars`)).toEqual({ DATABASE_URL: 'postgres://secret-one' });

  // A config var: the form posts, the page says which release it made.
  await page.goto(`/ui/apps/${app}/config`);
  await page.getByLabel('Key', { exact: true }).fill('GREETING');
  await page.getByLabel('Value', { exact: true }).fill('hello-secret');
  await page.getByRole('button', { name: 'Set', exact: true }).click();
  await expect(page.getByRole('status')).toContainText('Saved: created release v4.');
  await expect(page.getByRole('row', { name: /GREETING/ })).toBeVisible();
  expect(await page.content()).not.toContain('hello-secret');
  await page.getByRole('button', { name: 'Reveal GREETING' }).click();
  await expect(page.getByRole('row', { name: /GREETING/ })).toContainText('hello-secret');
  // A refused one says why, and makes nothing.
  await page.getByLabel('Key', { exact: true }).fill('PORT');
  await page.getByLabel('Value', { exact: true }).fill('80');
  await page.getByRole('button', { name: 'Set', exact: true }).click();
  await expect(page.getByRole('alert')).toContainText('PORT is reserved');
  expect((await api(baseURL!, 'GET', `/apps/${app}/releases`)).length).toBe(4);

  // A token: shown once on the page the form comes back to, then never again.
  await page.goto('/ui/account');
  const description = `nojs ${Date.now().toString(36)}`;
  const token = await createToken(page, description);
  expect((await fetch(`${baseURL}/apps`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  await page.reload();
  expect(await page.content()).not.toContain(token);
  // Revoking it is a form too.
  await page.getByRole('button', { name: `Revoke ${description}` }).click();
  await expect(page.getByRole('status')).toContainText('Token revoked.');
  expect((await fetch(`${baseURL}/apps`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
});
