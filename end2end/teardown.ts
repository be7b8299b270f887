import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** Stops the add-ons' cluster of the run's data directory (it outlives slipway, as apps use
 *  it) and removes its fallback directory under /var/lib/slipway (where it lives when the
 *  PostgreSQL user cannot enter the data directory). */
export default async function teardown() {
  const dataDir = process.env.E2E_DATA_DIR;
  if (!dataDir || !existsSync(dataDir)) return;
  const hash = createHash('sha256').update(realpathSync(dataDir)).digest('hex').slice(0, 12);
  const addons = [join(dataDir, 'addons-pg'), `/var/lib/slipway/addons-pg-${hash}`];
  for (const dir of addons) {
    const pidFile = join(dir, 'postmaster.pid');
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    try { process.kill(pid, 'SIGQUIT'); } catch { continue; /* gone already */ }
    // Its directory goes once it is gone (10 s at most).
    const deadline = Date.now() + 10_000;
    while (existsSync(`/proc/${pid}`) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  rmSync(`/var/lib/slipway/addons-pg-${hash}`, { recursive: true, force: true });
}
