import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, type Page } from '@playwright/test';

/** A token made by `slipway token create`, sharing the server's embedded PostgreSQL. */
export function adminToken(): string {
  return execFileSync(process.env.SLIPWAY_BIN!, ['token', 'create', '--user', 'e2e'], {
    env: { ...process.env, SLIPWAY_DATA_DIR: process.env.E2E_DATA_DIR!, SLIPWAY_LOG: 'warn' },
  }).toString().trim();
}

/** Calls the Platform API as the Akkeris CLI would. */
export async function api(baseURL: string, method: string, path: string, body?: unknown) {
  const res = await fetch(baseURL + path, {
    method,
    headers: { authorization: `Bearer ${adminToken()}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status, `${method} ${path}: ${await res.clone().text()}`).toBeLessThan(300);
  return res.json();
}

/** Waits until release `version` of `app` has settled (succeeded, failed or skipped); a worker
 *  deploys it, later when the machine is busy. */
export async function settled(baseURL: string, app: string, version: number) {
  await expect(async () => {
    const r = await api(baseURL, 'GET', `/apps/${app}/releases/${version}`);
    expect(['succeeded', 'failed', 'skipped']).toContain(r.status);
  }).toPass({ timeout: 60_000 });
}

/** Waits (up to 30 s) for every island on the page to be live. */
export async function hydrated(page: Page) {
  await expect(page.locator('body'), "the page's islands to hydrate (body[data-hydrated])")
    .toHaveAttribute('data-hydrated', 'true', { timeout: 30_000 });
}

/** Signs in as the local admin from the sign-in page that `path` redirects to. */
export async function signIn(page: Page, path: string) {
  await page.goto(path);
  await page.getByRole('button', { name: 'Sign in as local admin' }).click();
  await hydrated(page);
}

/** Creates a token on the account page (`page` is on it) and answers its text, which the page
 *  shows once with the Akkeris CLI set-up; with or without JavaScript. */
export async function createToken(page: Page, description: string): Promise<string> {
  await page.getByLabel('Description').fill(description);
  await page.getByRole('button', { name: 'Create token' }).click();
  const shown = page.getByRole('status').filter({ hasText: 'not shown again' });
  await expect(shown).toContainText('AKKERIS_API_HOST=');
  const token = (await shown.getByLabel('New token').innerText()).trim();
  expect(token).toMatch(/^slw_/);
  return token;
}

/** A gate the test opens: a build step waits on it over HTTP (at its container's gateway), so
 *  a test holds a build open for exactly as long as it needs, whatever the machine's speed. */
export interface Gate {
  port: number;
  open(): void;
  close(): void;
}

export async function gate(): Promise<Gate> {
  let open = false;
  const server = createServer((_, res) => {
    res.writeHead(open ? 200 : 503).end(open ? 'open' : 'closed');
  });
  await new Promise<void>(done => server.listen(0, '0.0.0.0', done));
  return {
    port: (server.address() as AddressInfo).port,
    open: () => { open = true; },
    // Opened first, so a step still waiting goes on instead of waiting forever.
    close: () => { open = true; setTimeout(() => server.close(), 10_000).unref(); },
  };
}

/** A .tar.gz with a Dockerfile whose RUN prints `line 1` … `line N`, 50 ms apart; with
 *  `held`, it waits at the gate after line `held.after` until the test opens it. */
export function sourceArchive(lines: number, held?: { gate: Gate; after: number }): string {
  const dir = mkdtempSync(join(tmpdir(), 'slwp-src-'));
  const nonce = `${Date.now()}-${Math.random()}`;
  const wait = held
    ? `[ $i -eq ${held.after} ] && { gw=$(ip route | awk '/^default/ {print $3}'); ` +
      `until wget -q -O /dev/null "http://$gw:${held.gate.port}/" 2>/dev/null; do sleep 0.2; done; }; `
    : '';
  writeFileSync(join(dir, 'Dockerfile'),
    'FROM slipway-test/web\n' +
    `RUN echo ${nonce}; i=0; while [ $i -lt ${lines} ]; do i=$((i+1)); printf '\\033[32mline %s\\033[0m\\n' $i; ${wait}usleep 50000; done\n`);
  const archive = join(dir, 'app.tar.gz');
  execFileSync('tar', ['czf', archive, '-C', dir, 'Dockerfile']);
  return archive;
}

const AXE = resolve(__dirname, '../../node_modules/axe-core/axe.min.js');

/** Runs axe-core on the page as it is and fails on any violation. */
export async function axe(page: Page, what: string) {
  await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    // @ts-ignore injected above
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v: any) => `${v.id}: ${v.help} (${v.nodes.map((n: any) => n.target.join(' ')).join(', ')})`);
  });
  expect(violations, `${what}: ${violations.join('\n')}`).toEqual([]);
}
