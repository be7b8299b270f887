import { test, expect, type Page } from '@playwright/test';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { axe, hydrated } from './helpers';

// GitHub end to end: a Slipway with GitHub sign-in configured against the local stand-in
// (`github-stand-in`, which serves GitHub's pages and API on `localhost` while Slipway runs
// on 127.0.0.1, so the sign-in round trip is cross-site as with github.com).

const FULL_TOKEN = 'ghp_e2efullscopes0000000000000000000000';
const REPO_ONLY_TOKEN = 'ghp_e2erepoonly000000000000000000000000';
const PORT = 3482;
const BASE = `http://127.0.0.1:${PORT}`;

let standIn: ChildProcess;
let slipway: ChildProcess;
let gh: { web_url: string; api_url: string; codeload_url: string };
let repoDir: string;
let dataDir: string;
const env = () => ({
  ...process.env,
  SLIPWAY_DATA_DIR: dataDir,
  SLIPWAY_ADDR: `127.0.0.1:${PORT}`,
  SLIPWAY_SITE_ROOT: process.env.SLIPWAY_SITE_ROOT ?? resolve(__dirname, '../../target/site'),
  SLIPWAY_LOG: 'warn',
  SLIPWAY_ADDON_POSTGRES_PORT: '0',
  SLIPWAY_GITHUB_URL: gh.web_url,
  SLIPWAY_GITHUB_API_URL: gh.api_url,
  SLIPWAY_GITHUB_CLIENT_ID: 'Iv1.e2e',
  SLIPWAY_GITHUB_CLIENT_SECRET: 'e2e-client-secret',
  SLIPWAY_GITHUB_ORGS: 'acme',
  SLIPWAY_DEFAULT_ROLE: 'deployer',
  SLIPWAY_ADMINS: 'boss',
});

function git(...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Jane Doe', '-c', 'user.email=jdoe@example.com', ...args],
    { cwd: repoDir }).toString().trim();
}

/** Starts a process and resolves with its first stdout line. */
function firstLine(child: ChildProcess, what: string, match: (l: string) => boolean): Promise<string> {
  return new Promise((done, fail) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (l) => { if (match(l)) done(l); });
    child.on('exit', (code) => fail(new Error(`${what} exited (${code}) before it was ready`)));
  });
}

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  repoDir = mkdtempSync(join(tmpdir(), 'slwp-gh-repo-'));
  git('init', '-q', '-b', 'master');
  // A build that prints for a couple of seconds, to be watched live.
  writeFileSync(join(repoDir, 'Dockerfile'),
    'FROM slipway-test/web\n' +
    'RUN i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo "step $i of $AKKERIS_GIT_BRANCH"; usleep 50000; done\n');
  git('add', '-A');
  git('commit', '-q', '-m', 'First commit');
  const setup = join(repoDir, '..', `slwp-gh-setup-${Date.now()}.json`);
  writeFileSync(setup, JSON.stringify({
    oauth_apps: [{ client_id: 'Iv1.e2e', client_secret: 'e2e-client-secret', name: 'Slipway' }],
    users: [
      { id: 4242, login: 'jdoe', name: 'Jane Doe', email: 'jdoe@example.com', orgs: ['acme'] },
      { id: 4243, login: 'boss', name: 'The Boss', email: 'boss@example.com', orgs: [] },
      { id: 4244, login: 'mallory', name: 'Mallory', email: null, orgs: ['elsewhere'] },
    ],
    tokens: [
      { token: FULL_TOKEN, login: 'jdoe', kind: { type: 'classic', scopes: ['repo', 'admin:repo_hook', 'read:user'] } },
      { token: REPO_ONLY_TOKEN, login: 'jdoe', kind: { type: 'classic', scopes: ['repo'] } },
    ],
    repos: [{ full_name: 'acme/web', git_dir: repoDir, default_branch: 'master', collaborators: [{ login: 'jdoe', admin: true }] }],
  }));
  const bin = process.env.GITHUB_STAND_IN ?? resolve(__dirname, '../../target/debug/github-stand-in');
  standIn = spawn(bin, ['--config', setup], { stdio: ['pipe', 'pipe', 'inherit'] });
  gh = JSON.parse(await firstLine(standIn, 'the GitHub stand-in', (l) => l.startsWith('{')));
  dataDir = mkdtempSync(join(tmpdir(), 'slwp-gh-'));
  slipway = spawn(process.env.SLIPWAY_BIN!, ['serve'], { env: env(), stdio: ['ignore', 'pipe', 'inherit'] });
  await firstLine(slipway, 'slipway', (l) => l.startsWith('listening on'));
});

test.afterAll(async () => {
  slipway?.kill('SIGTERM');
  standIn?.kill('SIGTERM');
  await new Promise((done) => slipway?.once('exit', done));
});

async function signInWithGitHub(page: Page, path: string, login = 'jdoe') {
  await page.goto(BASE + path);
  await page.getByRole('link', { name: 'Sign in with GitHub' }).click();
  // GitHub's page, on another site.
  await expect(page).toHaveURL(new RegExp(`^${gh.web_url}/login/oauth/authorize`));
  await expect(page.getByText('read:user')).toBeVisible();
  await page.getByLabel('Sign in as').selectOption(login);
  await page.getByRole('button', { name: 'Authorize', exact: true }).click();
  await expect(page).toHaveURL(BASE + path);
  await hydrated(page);
}

/** Reloads the page until `what` is there (the history does not poll when nothing is
 *  deploying); fails after a minute. */
async function reloadUntil(page: Page, what: import('@playwright/test').Locator) {
  await expect(async () => {
    await page.reload();
    await hydrated(page);
    await expect(what).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 60_000 });
}

/** Screenshots at a laptop's and a phone's size. */
async function shots(page: Page, name: string) {
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: `test-results/${name}.png`, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: `test-results/${name}-phone.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
}

test('sign in with GitHub, attach a repo with a pasted token, push, watch the build, see the Auto-Deploy release', async ({ page }) => {
  await signInWithGitHub(page, '/ui/apps');
  await expect(page.locator('.topbar .login')).toHaveText('jdoe');
  const token = execFileSync(process.env.SLIPWAY_BIN!, ['token', 'create', '--user', 'jdoe'], { env: env() }).toString().trim();
  const created = await fetch(`${BASE}/apps`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'web', space: 'prod' }),
  });
  expect(created.status).toBe(201);

  await page.goto(`${BASE}/ui/apps/web-prod/settings`);
  await hydrated(page);
  const form = page.locator('form.repo-form');
  await form.getByLabel('Repository URL').fill(`${gh.web_url}/acme/web.git`);
  await form.getByLabel('A personal access token').check();
  // The guidance: why each scope, and a link that pre-selects them.
  const link = page.getByRole('link', { name: 'Create a token on GitHub' });
  await expect(link).toHaveAttribute('href',
    `${gh.web_url}/settings/tokens/new?scopes=repo,admin:repo_hook,read:user&description=Slipway%20(web-prod)`);
  await expect(page.locator('.scope-reasons')).toContainText('repo:status');

  // A token with `repo` only: the checklist names exactly what is missing.
  await form.getByLabel('Token', { exact: true }).fill(REPO_ONLY_TOKEN);
  const checklist = page.getByRole('status', { name: 'What the credential can do' });
  await expect(checklist).toContainText('The token lacks the scopes admin:repo_hook, write:repo_hook, read:repo_hook, read:user.');
  await expect(checklist.locator('li.missing')).toHaveCount(4);
  await expect(checklist.locator('li.ok', { hasText: 'repo:status' })).toBeVisible();
  const attach = page.getByRole('button', { name: 'Attach repository' });
  await expect(attach).toBeDisabled();
  await axe(page, 'the attach form with its checklist');
  await shots(page, 'github-checklist');

  // The right token: everything is there.
  await form.getByLabel('Token', { exact: true }).fill(FULL_TOKEN);
  await expect(checklist).toContainText('Everything Slipway needs is there.');
  await expect(checklist.locator('li.missing')).toHaveCount(0);
  await attach.click();
  await expect(page.getByRole('link', { name: `${gh.web_url}/acme/web` })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Build now' })).toBeVisible();
  await axe(page, 'the attached repository');
  await shots(page, 'github-attached');

  // A push to master: the stand-in delivers the signed webhook, as GitHub does.
  writeFileSync(join(repoDir, 'index.txt'), 'v2');
  git('add', '-A');
  git('commit', '-q', '-m', 'Fix login');
  const sha = git('rev-parse', 'HEAD');
  const delivery = await (await fetch(`${gh.web_url}/_stand-in/push`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ repo: 'acme/web', branch: 'master' }),
  })).json();
  expect(delivery.answers[0].status).toBe(201);
  const buildId: string = JSON.parse(delivery.answers[0].body).build.id;

  // The build log streams live.
  await page.goto(`${BASE}/ui/apps/web-prod/builds/${buildId}`);
  await hydrated(page);
  await expect(page.locator('ol.log .text', { hasText: /^step 5 of master$/ })).toBeVisible({ timeout: 45_000 });
  await expect(page.getByText('Finished: SUCCESS')).toBeVisible({ timeout: 45_000 });

  // The Auto-Deploy release, with the commit in its history line.
  await page.goto(`${BASE}/ui/apps/web-prod`);
  await hydrated(page);
  const line = `Auto-Deploy ${buildId.replace(/-/g, '').slice(0, 8)} - Jane Doe (jdoe) - Fix login - ${sha.slice(0, 7)}`;
  await expect(page.locator('li[data-version="1"] .desc')).toHaveText(line, { timeout: 30_000 });
  await expect(page.locator('li[data-version="1"]')).toContainText('succeeded', { timeout: 30_000 });
  await shots(page, 'github-history');

  // GitHub was told: pending, then success, linking to the build log.
  const statuses = await (await fetch(`${gh.web_url}/_stand-in/statuses/acme/web/${sha}`)).json();
  expect(statuses.map((s: { state: string }) => s.state)).toEqual(['pending', 'success']);
  expect(statuses[1].target_url).toBe(`${BASE}/ui/apps/web-prod/builds/${buildId}`);

  // Another push deploys v2; rolling back to v1 pauses auto-deploy, and the next push is
  // built but held back, which the history says.
  const push = async (message: string) => {
    writeFileSync(join(repoDir, 'index.txt'), message);
    git('add', '-A');
    git('commit', '-q', '-m', message);
    const d = await (await fetch(`${gh.web_url}/_stand-in/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repo: 'acme/web', branch: 'master' }),
    })).json();
    expect(d.answers[0].status).toBe(201);
    return { id: JSON.parse(d.answers[0].body).build.id as string, sha: git('rev-parse', 'HEAD') };
  };
  await push('Second change');
  await reloadUntil(page, page.locator('li[data-version="2"] .status-succeeded'));
  await page.locator('li[data-version="1"]').getByRole('link', { name: 'Rollback' }).click();
  await page.getByRole('button', { name: 'Confirm rollback' }).click();
  await expect(page.getByText('Auto-deploy was paused by the rollback')).toBeVisible({ timeout: 30_000 });
  const held = await push('Third change, while rolled back');
  const card = page.getByRole('region', { name: 'Builds not deployed automatically' });
  await reloadUntil(page, card);
  await expect(card).toContainText(`${held.id.replace(/-/g, '').slice(0, 8)} - Jane Doe (jdoe) - Third change, while rolled back - ${held.sha.slice(0, 7)}`);
  await expect(card).toContainText('Held back: auto-deploy is paused after a rollback');
  await axe(page, 'history with a held-back build');
  await shots(page, 'github-held-back');
});

test('an admin changes a role on the users page, and the UI hides what a viewer cannot do', async ({ page, browser }) => {
  await signInWithGitHub(page, '/ui/users', 'boss');
  const row = page.getByRole('row', { name: /jdoe/ });
  await expect(row.getByRole('combobox', { name: 'Role of jdoe' })).toHaveValue('deployer');
  await row.getByRole('combobox', { name: 'Role of jdoe' }).selectOption('viewer');
  await row.getByRole('button', { name: 'Set the role of jdoe' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'jdoe is now a viewer.' })).toBeVisible();
  await shots(page, 'github-role-set');
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole('row', { name: /jdoe/ }).getByRole('combobox', { name: 'Role of jdoe' })).toHaveValue('viewer');
  // An admin cannot take the role from themselves.
  await expect(page.getByRole('row', { name: /boss/ }).getByRole('combobox')).toBeDisabled();
  await axe(page, 'users');
  await shots(page, 'github-users');

  const viewer = await (await browser.newContext()).newPage();
  await signInWithGitHub(viewer, '/ui/apps/web-prod/settings');
  await expect(viewer.getByText('Reached with')).toBeVisible();
  await expect(viewer.getByRole('button', { name: 'Build now' })).toHaveCount(0);
  await expect(viewer.getByRole('button', { name: 'Detach' })).toHaveCount(0);
  await expect(viewer.getByRole('switch').first()).toBeDisabled();
  await viewer.goto(`${BASE}/ui/apps/web-prod`);
  await hydrated(viewer);
  await expect(viewer.getByRole('heading', { name: 'New build' })).toHaveCount(0);
  await expect(viewer.getByRole('link', { name: 'Rollback' })).toHaveCount(0);
  await viewer.goto(`${BASE}/ui/apps`);
  await hydrated(viewer);
  await expect(viewer.getByRole('link', { name: 'web-prod' })).toBeVisible();
  await expect(viewer.getByText('Create app')).toHaveCount(0);
  await shots(viewer, 'github-viewer-settings');

  // The admin detaches the repository, after a confirmation; its webhook goes.
  await page.goto(`${BASE}/ui/apps/web-prod/settings`);
  await hydrated(page);
  await page.getByText('Detach', { exact: true }).click();
  await expect(page.getByRole('group', { name: 'Detach the repository' })).toContainText('deletes its webhook');
  await shots(page, 'github-detach');
  await page.getByRole('button', { name: 'Confirm detach' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Detached; its webhook was deleted.' })).toBeVisible();
  await expect(page.getByLabel('Repository URL')).toBeVisible();
  const hooks = await (await fetch(`${gh.web_url}/_stand-in/hooks/acme/web`)).json();
  expect(hooks).toEqual([]);
});

test('someone outside the allowed orgs gets a clear refusal', async ({ page }) => {
  await page.goto(`${BASE}/ui/apps`);
  await shots(page, 'github-signin');
  await page.getByRole('link', { name: 'Sign in with GitHub' }).click();
  await page.getByLabel('Sign in as').selectOption('mallory');
  await page.getByRole('button', { name: 'Authorize', exact: true }).click();
  await expect(page).toHaveURL(`${BASE}/ui/signin?error=not-allowed`);
  await expect(page.getByRole('alert')).toHaveText('Your account is not allowed to use this Slipway.');
  await axe(page, 'not allowed');
  await shots(page, 'github-not-allowed');
});
