import { defineConfig } from '@playwright/test';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// One slipway for the run, with its own embedded PostgreSQL in a fresh data directory.
const port = Number(process.env.E2E_PORT ?? 3457);
const dataDir = process.env.E2E_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'slwp-'));
process.env.E2E_DATA_DIR = dataDir;
// Reachable by the PostgreSQL user, so the clusters live in it rather than in
// /var/lib/slipway, where nothing would remove them after the run.
chmodSync(dataDir, 0o755);
const bin = process.env.SLIPWAY_BIN ?? resolve(__dirname, '../target/debug/slipway');
process.env.SLIPWAY_BIN = bin;

export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  fullyParallel: true,
  workers: 2,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    },
  },
  webServer: {
    command: `${bin} serve`,
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 120_000,
    gracefulShutdown: { signal: 'SIGTERM', timeout: 30_000 },
    env: {
      SLIPWAY_ADDR: `127.0.0.1:${port}`,
      SLIPWAY_DATA_DIR: dataDir,
      SLIPWAY_SITE_ROOT: process.env.SLIPWAY_SITE_ROOT ?? resolve(__dirname, '../target/site'),
      SLIPWAY_LOG: 'warn',
      // The add-ons' embedded cluster, at the engine's bridge gateway; globalTeardown stops it
      // (it outlives slipway, as apps need it).
      SLIPWAY_ADDON_POSTGRES_PORT: process.env.E2E_ADDON_PORT ?? String(port + 51000),
    },
  },
  globalTeardown: './teardown.ts',
});
