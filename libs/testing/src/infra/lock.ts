import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A lock whose directory is older than this was left by a process that died holding it. */
const LOCK_STALE_MS = 15 * 60_000;

/**
 * A holder writes its pid a few system calls after taking the lock: one without a pid this long after was left by a run
 * killed in between (or by a version before the pid file), not one about to write it.
 */
const PID_WRITE_MS = 10_000;

/** Whether the process that wrote the lock's `pid` file is gone (a run interrupted while it held the lock). */
function holderGone(lockDir: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(lockDir, 'pid'), 'utf8'));
  } catch {
    pid = NaN; // just taken, its pid not written yet; or never written
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return Date.now() - statSync(lockDir).mtimeMs > PID_WRITE_MS;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Takes a directory lock (mkdir is atomic), waiting for another holder. A lock whose holder is gone (its pid, written
 * in it, names no process: Ctrl-C during a download or a build) is broken at once, as is one still without a pid after
 * PID_WRITE_MS; one older than LOCK_STALE_MS too.
 */
export async function withLock<T>(lockDir: string, fn: () => Promise<T>, log: (line: string) => void): Promise<T> {
  let announced = false;
  for (;;) {
    try {
      mkdirSync(lockDir);
      // Written aside and renamed in, so that a waiter never reads a pid file cut short (an empty one names no one).
      const pidFile = join(lockDir, `pid.${process.pid}.tmp`);
      writeFileSync(pidFile, String(process.pid));
      renameSync(pidFile, join(lockDir, 'pid'));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      try {
        if (holderGone(lockDir) || Date.now() - statSync(lockDir).mtimeMs > LOCK_STALE_MS) {
          // Moved aside first: of two waiters breaking it at once only one rename succeeds (the other's fails, and
          // it tries again). One that judged it dead just before the other broke it and took it again can still move
          // the new one aside: a window of a few system calls, after a run was interrupted.
          const broken = `${lockDir}.broken-${process.pid}-${Date.now()}`;
          renameSync(lockDir, broken);
          rmSync(broken, { recursive: true, force: true });
          continue;
        }
      } catch {
        continue; // released meanwhile
      }
      if (!announced) {
        log(`waiting for another process to release ${lockDir}`);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}
