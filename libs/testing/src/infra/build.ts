import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { withLock } from './lock';
import { dyingWithParent } from './process';
import { PROJECT_ROOT } from './resolve';

/**
 * Builds the services (incremental) as `npm run build` does, under `.local/build.lock`: the end-to-end specs (one test
 * file at a time) and `npm start` alike. Two builds at once on a fresh checkout wrote dist/ twice, and the second tsc's
 * output (import aliases not rewritten yet) replaced the first's while its services started ("Cannot find module
 * '@lib/contracts'"). Either step failing throws. Once built, a build emits nothing.
 */
export async function buildServices(log: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<void> {
  const bin = (name: string) => join(PROJECT_ROOT, 'node_modules', '.bin', name);
  mkdirSync(join(PROJECT_ROOT, '.local'), { recursive: true });
  await withLock(
    join(PROJECT_ROOT, '.local', 'build.lock'),
    async () => {
      // Tied to this process (dyingWithParent): a `kill -9` of it mid-build does not leave tsc writing dist/ on, unlocked,
      // under the next start's build.
      execFileSync(...dyingWithParent(bin('tsc'), ['-p', 'tsconfig.build.json']), { cwd: PROJECT_ROOT, stdio: 'inherit' });
      execFileSync(...dyingWithParent(bin('tsc-alias'), ['-p', 'tsconfig.build.json']), { cwd: PROJECT_ROOT, stdio: 'inherit' });
    },
    log,
  );
}
