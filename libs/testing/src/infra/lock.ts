import { mkdirSync, rmSync, statSync } from 'node:fs';

/** A lock whose directory is older than this was left by a process that died holding it. */
const LOCK_STALE_MS = 15 * 60_000;

/** Takes a directory lock (mkdir is atomic), waiting for another holder; stale locks are broken. */
export async function withLock<T>(lockDir: string, fn: () => Promise<T>, log: (line: string) => void): Promise<T> {
  let announced = false;
  for (;;) {
    try {
      mkdirSync(lockDir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      try {
        if (Date.now() - statSync(lockDir).mtimeMs > LOCK_STALE_MS) {
          rmSync(lockDir, { recursive: true, force: true });
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
