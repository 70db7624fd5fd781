#!/usr/bin/env node
/**
 * `npm test`: type-checks, then runs every test tier with Jest against real servers (provisioned by the Jest
 * global setup), and ends with one line: `N passed, N failed, N skipped`. Extra arguments go to Jest.
 */
const { spawnSync } = require('node:child_process');
const { mkdirSync, readFileSync, rmSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const args = process.argv.slice(2);

if (!args.length || process.env.TYPECHECK === 'true') {
  process.stdout.write('Type-checking...\n');
  const tsc = spawnSync(bin('tsc'), ['-p', 'tsconfig.json', '--noEmit'], { cwd: root, stdio: 'inherit' });
  if (tsc.status !== 0) {
    process.stdout.write('Type errors: fix them before the tests run.\n0 passed, 1 failed, 0 skipped\n');
    process.exit(1);
  }
}

mkdirSync(join(root, '.local'), { recursive: true });
const results = join(root, '.local', 'jest-results.json');
// A run that fails before Jest writes its results (the global setup could not start a server) must not report the
// previous run's.
rmSync(results, { force: true });
const jest = spawnSync(bin('jest'), ['--ci', '--json', `--outputFile=${results}`, ...args], {
  cwd: root,
  stdio: 'inherit',
});

let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const summary = JSON.parse(readFileSync(results, 'utf8'));
  passed = summary.numPassedTests;
  failed = summary.numFailedTests + summary.numRuntimeErrorTestSuites;
  skipped = summary.numPendingTests + summary.numTodoTests;
} catch {
  failed = 1; // none written (Jest stopped before its tests), or unreadable
}
const status = jest.status ?? 1;
if (status !== 0 && failed === 0) failed = 1;
process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exit(status);
