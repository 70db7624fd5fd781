import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { dyingWithParent, removeLeftovers } from './process';

export interface GoProgram {
  /** The Go module's directory, relative to the project root (its .go files, go.mod, go.sum). */
  sourceDir: string;
  /** The binary to build, relative to the project root (under .local/bin). */
  binary: string;
  /** `go build` flags besides `-o`. */
  flags?: string[];
  /** What the log calls it, and how long its first build takes. */
  label: string;
}

/** What the binary is built from: the package's .go files (in name order), go.mod and go.sum. */
function sourceFiles(sourceDir: string): string[] {
  return [...readdirSync(sourceDir).filter((file) => file.endsWith('.go')).sort(), 'go.mod', 'go.sum'];
}

/**
 * Builds `<root>/<binary>` with the installed Go (`GO`, else `go` on the PATH; modules from the Go module proxy)
 * unless the copy there was built from the current .go files, go.mod, go.sum and flags (their hash is kept in
 * `<binary>.hash`). Returns the binary's absolute path.
 */
export async function ensureGoBinary(root: string, program: GoProgram, log: (line: string) => void = () => {}): Promise<string> {
  const sourceDir = join(root, program.sourceDir);
  const binary = join(root, program.binary);
  const hashFile = `${binary}.hash`;
  const flags = [...(program.flags ?? []), '-buildvcs=false'];

  const hash = createHash('sha256');
  hash.update(flags.join(' '));
  for (const file of sourceFiles(sourceDir)) {
    hash.update(`\0${file}\0`);
    hash.update(readFileSync(join(sourceDir, file)));
  }
  const digest = hash.digest('hex');

  if (existsSync(binary) && existsSync(hashFile) && readFileSync(hashFile, 'utf8').trim() === digest) {
    return binary;
  }

  mkdirSync(dirname(binary), { recursive: true });
  // Build under a unique name and rename, so that concurrent starts never see a partial binary.
  removeLeftovers(binary); // of a build killed before it could clean up (kill -9)
  const tmp = `${binary}.tmp-${process.pid}-${Date.now()}`;
  const go = process.env.GO ?? 'go';
  const started = Date.now();
  log(`building ${program.binary} from ${program.sourceDir} (go build; ${program.label})`);
  await new Promise<void>((resolve, reject) => {
    // Tied to this process: a `kill -9` of `npm start` or of a test run during the build does not leave go building on.
    execFile(...dyingWithParent(go, ['build', ...flags, '-o', tmp, '.']), { cwd: sourceDir, env: process.env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        rmSync(tmp, { force: true });
        reject(new Error(`go build of ${program.sourceDir} failed: ${error.message}\n${stdout}${stderr}`));
      } else {
        resolve();
      }
    });
  });
  renameSync(tmp, binary);
  writeFileSync(hashFile, `${digest}\n`);
  log(`built ${program.binary} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return binary;
}
