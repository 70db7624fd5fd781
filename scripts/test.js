#!/usr/bin/env node
/**
 * `npm test`: type-checks (with no arguments, or TYPECHECK=true), then runs every test tier with Jest against real servers (provisioned by the Jest
 * global setup), and ends with one line: `N passed, N failed, N skipped`. Extra arguments go to Jest.
 *
 * A signal this process gets (Ctrl-C reaches the whole group; `kill <pid>`, a CI runner's or container's stop reach it
 * alone) is passed on to the step running and its children (Jest's workers), which stops its servers (Jest's global setup stops them on SIGINT/SIGTERM),
 * and the summary line still ends the output: killed at once, Jest and the servers it owns would run on without it.
 */
const { execFileSync, spawn } = require('node:child_process');
const { existsSync, mkdirSync, readFileSync, rmSync } = require('node:fs');
const { constants } = require('node:os');
const { join } = require('node:path');

const root = join(__dirname, '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const args = process.argv.slice(2);

// The services' settings (every name their configuration reads: test/deploy/deploy.spec.ts checks the list) set in the
// shell, say for `npm start` (METRICS_TOKEN, HOST, DOCS_ENABLED...), would reach every service the tests start, which
// set only their own: /metrics answering 401, a service listening where the tests do not call. Left out, but for the
// servers to test against (KAFKA_BROKERS, MONGO_URL: README).
const SERVERS = new Set(['KAFKA_BROKERS', 'MONGO_URL']);
const ignored = require('./service-settings.json').filter((name) => !SERVERS.has(name) && process.env[name] !== undefined);
for (const name of ignored) delete process.env[name];
if (ignored.length) console.log(`Ignoring service settings set in this shell (the tests set their own): ${ignored.join(', ')}`);
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];

let running = null;
let stoppedBy = null;
for (const signal of SIGNALS) {
  process.on(signal, () => {
    stoppedBy ??= signal;
    // To the step and its children: Jest's workers (and the services they run), which its main process, whose global
    // setup stops the servers and exits, would leave running. Ctrl-C reached them all already (one process group); a
    // second signal changes nothing (the global setup stops the servers once, whatever number of signals come).
    if (!running) return;
    const children = childrenOf(running.pid);
    running.kill(signal);
    for (const pid of children) {
      try {
        process.kill(pid, signal);
      } catch {
        // gone already
      }
    }
  });
}

/** The pids of a process's children (Linux's /proc, else `pgrep -P`); none when neither answers. */
function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    try {
      return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }
}

/** Runs one step with the terminal, resolving with its exit status (a signal's death: 128 + its number, as a shell). */
function run(command, commandArgs) {
  return new Promise((resolve) => {
    running = spawn(command, commandArgs, { cwd: root, stdio: 'inherit' });
    running.on('error', (error) => {
      process.stderr.write(`${command}: ${error.message}\n`);
      resolve(1);
    });
    running.on('exit', (code, signal) => {
      running = null;
      resolve(code ?? 128 + (constants.signals[signal] ?? 0));
    });
  });
}

function summary(passed, failed, skipped) {
  process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
}

async function main() {
  // The dev dependencies (TypeScript, Jest...) missing: an install that left them out (NODE_ENV=production, or
  // --omit=dev), or none. Said so, not taken for type errors or a run without results.
  const missing = ['tsc', 'jest'].filter((name) => !existsSync(bin(name)));
  if (missing.length) {
    process.stdout.write(
      `${missing.join(' and ')} not installed (node_modules/.bin): run npm install${process.env.NODE_ENV === 'production' ? ' without NODE_ENV=production, which leaves out the dev dependencies the tests need' : ''}.\n`,
    );
    summary(0, 1, 0);
    return 1;
  }
  if (!args.length || process.env.TYPECHECK === 'true') {
    process.stdout.write('Type-checking...\n');
    const tsc = await run(bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']);
    if (stoppedBy) {
      process.stdout.write(`Stopped (${stoppedBy}) while type-checking: no test ran.\n`);
      summary(0, 1, 0);
      return 1;
    }
    if (tsc !== 0) {
      process.stdout.write('Type errors: fix them before the tests run.\n');
      summary(0, 1, 0);
      return 1;
    }
  }

  mkdirSync(join(root, '.local'), { recursive: true });
  // This run's own file: a run that fails before Jest writes its results (the global setup could not start a server)
  // must not report another run's, nor one that was stopped and whose Jest wrote later.
  const results = join(root, '.local', `jest-results-${process.pid}.json`);
  rmSync(results, { force: true });
  const status = await run(bin('jest'), ['--ci', '--json', `--outputFile=${results}`, ...args]);

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
  } finally {
    rmSync(results, { force: true });
  }
  if ((status !== 0 || stoppedBy) && failed === 0) failed = 1;
  if (stoppedBy) process.stdout.write(`\nStopped (${stoppedBy}): the run is incomplete.`);
  summary(passed, failed, skipped);
  // The line and the status agree: a Jest that exited 0 without results (`--listTests`, `--showConfig`: no run) is a
  // failed run here too, as its line says.
  return status !== 0 ? status : stoppedBy || failed > 0 ? 1 : 0;
}

main().then((status) => process.exit(status));
