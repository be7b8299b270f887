import { test, expect } from '@playwright/test';
import { createToken, hydrated, signIn } from './helpers';

test('create an app, star it, and delete it by typing its name', async ({ page }) => {
  const name = `m${Date.now().toString(36)}`;
  await signIn(page, '/ui/apps');
  await page.getByText('Create app', { exact: true }).first().click();
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Space', { exact: true }).fill('dev');
  await page.getByRole('button', { name: 'Create app' }).click();
  await expect(page).toHaveURL(new RegExp(`/ui/apps/${name}-dev(\\?|$)`));
  await hydrated(page);
  await expect(page.getByRole('heading', { name: `${name}-dev` })).toBeVisible();

  const star = page.getByRole('button', { name: /Favourite/ });
  await expect(star).toHaveAttribute('aria-pressed', 'false');
  await star.click();
  await expect(star).toHaveAttribute('aria-pressed', 'true');
  await page.goto('/ui/apps');
  await expect(page.getByRole('row', { name: new RegExp(`${name}-dev`) })).toContainText('★');

  await page.goto(`/ui/apps/${name}-dev/settings`);
  await hydrated(page);
  await page.getByLabel(`Type ${name}-dev to confirm`).fill('wrong');
  await page.getByRole('button', { name: 'Delete app' }).click();
  // The reason as the server wrote it, with nothing of the framework's around it.
  await expect(page.getByRole('alert')).toHaveText(`Type the app's name, ${name}-dev, to delete it.`);
  await page.getByLabel(`Type ${name}-dev to confirm`).fill(`${name}-dev`);
  await page.getByRole('button', { name: 'Delete app' }).click();
  await expect(page).toHaveURL(/\/ui\/apps(\?|$)/);
  await expect(page.getByRole('link', { name: `${name}-dev` })).toHaveCount(0);
});

test('create a token, see it once with the CLI set-up, and revoke it', async ({ page, baseURL }) => {
  const description = `cli ${Date.now().toString(36)}`;
  await signIn(page, '/ui/account');
  const token = await createToken(page, description);
  const ok = await fetch(`${baseURL}/apps`, { headers: { authorization: `Bearer ${token}` } });
  expect(ok.status).toBe(200);

  await page.reload();
  await hydrated(page);
  expect(await page.content()).not.toContain(token);
  await page.getByRole('button', { name: `Revoke ${description}` }).click();
  await expect(page.getByRole('button', { name: `Revoke ${description}` })).toHaveCount(0);
  const refused = await fetch(`${baseURL}/apps`, { headers: { authorization: `Bearer ${token}` } });
  expect(refused.status).toBe(401);
});
