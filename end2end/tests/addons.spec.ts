import { test, expect } from '@playwright/test';
import { api, axe, hydrated, settled, signIn } from './helpers';

test('a PostgreSQL add-on from the browser: attach, share, detach and destroy, each a release', async ({ page, baseURL }) => {
  const app = `p${Date.now().toString(36)}-prod`;
  const other = `q${Date.now().toString(36)}-prod`;
  for (const a of [app, other]) {
    const [name, space] = a.split('-');
    await api(baseURL!, 'POST', '/apps', { name, space });
  }
  await signIn(page, `/ui/apps/${app}/addons`);
  await expect(page.getByText('No add-ons yet.')).toBeVisible();

  await page.getByLabel('Service and plan').selectOption('slipway-postgresql:hobby');
  await page.getByLabel('Name (optional)').fill('main-db');
  await page.getByRole('button', { name: 'Add add-on' }).click();
  await expect(page.getByRole('status')).toContainText('Add-on attached: created release v1');
  const card = page.getByRole('region', { name: 'main-db' });
  await expect(card).toContainText('slipway-postgresql:hobby');
  await expect(card).toContainText('provisioned');
  const row = card.getByRole('row', { name: /DATABASE_URL/ });
  await expect(row).toBeVisible();
  // Masked until revealed.
  expect(await page.content()).not.toContain('postgres://');
  await hydrated(page);
  await axe(page, 'add-ons');
  await row.getByRole('button', { name: 'Reveal DATABASE_URL' }).click();
  await expect(row).toContainText('postgres://addon_');

  // The history says it, and links to the add-ons.
  await page.goto(`/ui/apps/${app}`);
  const v1 = page.locator('li[data-version="1"]');
  await expect(v1).toContainText('Attach main-db');
  await v1.getByRole('link', { name: 'Add-ons' }).click();
  await expect(page).toHaveURL(new RegExp(`/ui/apps/${app}/addons$`));

  // Another app attaches it, then detaches it after typing its name.
  await page.goto(`/ui/apps/${other}/addons`);
  await page.getByLabel('Add-on', { exact: true }).selectOption({ label: `main-db (slipway-postgresql:hobby, of ${app})` });
  await page.getByLabel('Name here (optional)').fill('shared');
  await page.getByRole('button', { name: 'Attach', exact: true }).click();
  await expect(page.getByRole('status')).toContainText('Add-on attached: created release v1');
  const shared = page.getByRole('region', { name: 'shared' });
  await expect(shared).toContainText(`Attached from ${app}`);

  // The owner cannot destroy it while it is shared; nothing changes.
  await page.goto(`/ui/apps/${app}/addons`);
  await expect(page.getByRole('region', { name: 'main-db' })).toContainText(`Also attached to ${other}`);
  await page.getByText('Destroy…').click();
  await page.getByLabel('Type main-db to confirm').fill('main-db');
  await page.getByRole('button', { name: 'Destroy main-db' }).click();
  await expect(page.getByRole('alert')).toContainText(`attached to ${other} too`);

  await page.goto(`/ui/apps/${other}/addons`);
  await page.getByText('Detach…').click();
  await page.getByLabel('Type shared to confirm').fill('shared');
  await page.getByRole('button', { name: 'Detach shared' }).click();
  await expect(page.getByRole('status')).toContainText('Add-on detached: created release v2');
  await expect(page.getByText('No add-ons yet.')).toBeVisible();

  // Destroy, after a wrong name is refused.
  await page.goto(`/ui/apps/${app}/addons`);
  await page.getByText('Destroy…').click();
  await page.getByLabel('Type main-db to confirm').fill('main');
  await page.getByRole('button', { name: 'Destroy main-db' }).click();
  await expect(page.getByRole('alert')).toContainText("Type the add-on's name, main-db, to destroy it.");
  await page.getByText('Destroy…').click();
  await page.getByLabel('Type main-db to confirm').fill('main-db');
  await page.getByRole('button', { name: 'Destroy main-db' }).click();
  await expect(page.getByRole('status')).toContainText('Add-on destroyed: created release v2');
  await expect(page.getByText('No add-ons yet.')).toBeVisible();

  const releases = await api(baseURL!, 'GET', `/apps/${app}/releases`);
  expect(releases.map((r: any) => r.description)).toEqual(['Attach main-db', 'Detach main-db']);
  const config = await api(baseURL!, 'GET', `/apps/${app}/config-vars`);
  expect(config.DATABASE_URL).toBeUndefined();
});

test("a rollback keeps today's add-ons, and its confirmation says so", async ({ page, baseURL }) => {
  const app = `r${Date.now().toString(36)}-prod`;
  const [name, space] = app.split('-');
  await api(baseURL!, 'POST', '/apps', { name, space });
  await api(baseURL!, 'PATCH', `/apps/${app}/config-vars`, { MODE: 'one' });
  await settled(baseURL!, app, 1);
  await api(baseURL!, 'POST', `/apps/${app}/addons`, { plan: 'slipway-postgresql:hobby', attachment: { name: 'db' } });
  await settled(baseURL!, app, 2);
  await api(baseURL!, 'PATCH', `/apps/${app}/config-vars`, { MODE: 'two' });
  await settled(baseURL!, app, 3);
  const url = (await api(baseURL!, 'GET', `/apps/${app}/config-vars`)).DATABASE_URL;

  await signIn(page, `/ui/apps/${app}/releases/v1/rollback`);
  await expect(page.getByText('Set by add-ons, and kept as they are: DATABASE_URL.')).toBeVisible();
  const changes = page.locator('table.config-diff');
  await expect(changes).toContainText('MODE');
  await expect(changes).not.toContainText('DATABASE_URL');
  await page.getByRole('button', { name: 'Confirm rollback' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Rolling back' })).toContainText('release v4');
  const config = await api(baseURL!, 'GET', `/apps/${app}/config-vars`);
  expect(config).toEqual({ MODE: 'one', DATABASE_URL: url });
});
