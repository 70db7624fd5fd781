import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from './process';

/** A lock whose directory is older than this was left by a process that died holding it. */
const LOCK_STALE_MS = 15 * 60_000;

/**
 * A holder writes its pid a few system calls after taking the lock: one without a pid this long after was left by a run
 * killed in between (or by a version before the pid file), not one about to write it.
 */
const PID_WRITE_MS = 10_000;

/**
 * Which process `pid` is, beyond its number: the machine's boot and the process's start time (Linux, /proc); undefined
 * where that cannot be read. A pid is reused: `.local/` kept between CI jobs or containers holds a lock whose pid names
 * some other process there.
 */
export function processIdentity(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) in parentheses: state is field 3, starttime field 22.
    const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return startTime ? `${boot}:${startTime}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the process that wrote the lock's `pid` file is gone (a run interrupted while it held the lock): no process
 * has its pid, or the one that has it now is another (its identity, written beside the pid, differs).
 */
function holderGone(lockDir: string): boolean {
  let pid: number;
  let identity: string | undefined;
  try {
    const [written, writtenIdentity] = readFileSync(join(lockDir, 'pid'), 'utf8').split('\n');
    pid = Number(written);
    identity = writtenIdentity || undefined;
  } catch {
    pid = NaN; // just taken, its pid not written yet; or never written
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return Date.now() - statSync(lockDir).mtimeMs > PID_WRITE_MS;
  if (!processAlive(pid)) return true;
  const now = identity && processIdentity(pid);
  return !!now && now !== identity;
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
      writeFileSync(pidFile, `${process.pid}\n${processIdentity(process.pid) ?? ''}`);
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
