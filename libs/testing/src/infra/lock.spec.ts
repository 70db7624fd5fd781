import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processIdentity, withLock } from './lock';

// The lock that serializes downloads and builds between Jest workers and runs (a pure unit test of the file system).
describe('withLock', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'lock-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A lock directory as a holder leaves it, naming `pid`. */
  const heldBy = (pid: number) => {
    const lockDir = join(dir, 'x.lock');
    mkdirSync(lockDir);
    writeFileSync(join(lockDir, 'pid'), String(pid));
    return lockDir;
  };

  it('breaks at once a lock whose holder is gone (a run interrupted while it held it)', async () => {
    const gone = spawnSync(process.execPath, ['-e', '']).pid!;
    const lockDir = heldBy(gone);
    const logged: string[] = [];
    const startedAt = Date.now();
    expect(await withLock(lockDir, async () => existsSync(join(lockDir, 'pid')), (line) => logged.push(line))).toBe(true);
    expect(Date.now() - startedAt).toBeLessThan(2_000);
    expect(logged).toEqual([]);
    expect(existsSync(lockDir)).toBe(false);
  });

  // `.local/` kept between CI jobs or containers: the pid a killed run wrote names another process there. Waiting out
  // LOCK_STALE_MS (15 minutes) for it is what the identity beside the pid avoids.
  it('breaks at once a lock whose pid names another process now (the pid reused), and waits for its writer while it runs', async () => {
    const reused = join(dir, 'reused.lock');
    mkdirSync(reused);
    writeFileSync(join(reused, 'pid'), `${process.ppid}\nanother-boot:12345`);
    const startedAt = Date.now();
    expect(await withLock(reused, async () => 'taken', () => undefined)).toBe('taken');
    expect(Date.now() - startedAt).toBeLessThan(2_000);
    // Its writer still running (the same pid and identity): waited for.
    const held = join(dir, 'held.lock');
    mkdirSync(held);
    writeFileSync(join(held, 'pid'), `${process.ppid}\n${processIdentity(process.ppid)}`);
    expect(await takesWithin(held, 1_500)).toBe(false);
  });

  /** Whether `withLock` takes `lockDir` within `ms`; if not, the lock is then released so that the waiting call ends. */
  const takesWithin = async (lockDir: string, ms: number) => {
    const taking = withLock(lockDir, async () => undefined, () => undefined);
    let timer: NodeJS.Timeout | undefined;
    const taken = await Promise.race([taking.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
    clearTimeout(timer);
    if (!taken) {
      rmSync(lockDir, { recursive: true, force: true });
      await taking;
    }
    return taken;
  };

  it('breaks at once a lock left without a pid a while ago (a run killed between taking it and writing its pid)', async () => {
    const lockDir = join(dir, 'x.lock');
    mkdirSync(lockDir);
    const minuteAgo = new Date(Date.now() - 60_000);
    utimesSync(lockDir, minuteAgo, minuteAgo);
    expect(await takesWithin(lockDir, 3_000)).toBe(true);
  });

  it('waits for a lock just taken whose pid is not written yet', async () => {
    const lockDir = join(dir, 'x.lock');
    mkdirSync(lockDir);
    expect(await takesWithin(lockDir, 1_200)).toBe(false);
  });

  it('waits while its holder runs, and goes on once it releases the lock', async () => {
    const lockDir = heldBy(process.pid);
    const logged: string[] = [];
    let ran = false;
    const taking = withLock(lockDir, async () => (ran = true), (line) => logged.push(line));
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(ran).toBe(false);
    expect(logged).toEqual([`waiting for another process to release ${lockDir}`]);
    rmSync(lockDir, { recursive: true, force: true });
    await taking;
    expect(ran).toBe(true);
  });
});
