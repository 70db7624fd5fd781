import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return check();
}

/** scripts/test.js with `args` (no type-check) run to its end: all it printed, and its exit status. */
async function runToItsEnd(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; code: number | null }> {
  const child = spawn(process.execPath, ['scripts/test.js', ...args], { cwd: root, env: { ...process.env, TYPECHECK: 'false', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.resume();
  // 'close': its output read whole, not only the process gone.
  const code = await new Promise<number | null>((resolve) => child.on('close', (status) => resolve(status)));
  return { stdout, code };
}

// `npm test` stopped on its own (a CI runner's or a container's SIGTERM reaches its process alone): Jest must stop with
// it (and the servers it started), and the summary line still ends the output. Jest here runs one fixture that waits,
// against the servers this run already has (KAFKA_BROKERS and MONGO_URL are set: its global setup starts none).
describe('npm test (scripts/test.js) stopped by a signal', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'test-command-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  // `npm`: the signal sent to npm alone (`.ci/run` execs `npm test`, and a CI runner signals that process): npm passes
  // it to the script's shell, which must be the test run itself (`exec`): a shell that runs it as its child dies of a
  // SIGTERM, and the run, Jest and the servers went on orphaned, with no summary line.
  it.each([
    ['SIGTERM', 'one file (Jest in band)', ['waits-to-be-stopped'], 1, 'node'],
    ['SIGHUP', 'one file (Jest in band)', ['waits-to-be-stopped'], 1, 'node'],
    ['SIGTERM', "two files (Jest's workers, which its main process would leave running)", ['waits-to-be-stopped', 'waits-too'], 2, 'node'],
    ['SIGTERM', 'one file, through npm test', ['waits-to-be-stopped'], 1, 'npm'],
  ] as const)('on %s, running %s, stops Jest and still prints the summary line, a failure', async (signal, _, fixtures, processes, via) => {
    const mark = join(dir, 'jest.pids');
    const match = fixtures.map((name) => `<rootDir>/test/scripts/fixtures/${name}.fixture.ts`);
    const args = ['--testMatch', ...match, '-w', '2'];
    const [command, commandArgs] = via === 'npm' ? ['npm', ['test', '--silent', '--', ...args]] : [process.execPath, ['scripts/test.js', ...args]];
    const child = spawn(command, commandArgs, {
      cwd: root,
      env: { ...process.env, FIXTURE_MARK: mark, TYPECHECK: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.resume();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const pids = () => (existsSync(mark) ? readFileSync(mark, 'utf8').split('\n').filter(Boolean).map(Number) : []);
      expect(await until(() => pids().length === processes, 40_000)).toBe(true);
      child.kill(signal);
      const code = await exited;
      expect(code).not.toBe(0);
      expect(stdout.trimEnd().split('\n').at(-1)).toBe('0 passed, 1 failed, 0 skipped');
      expect(stdout).toContain(`Stopped (${signal})`);
      // Jest is gone with it, its workers too, not running on as orphans (the fixture waits 45 s).
      expect(await until(() => pids().every((pid) => !alive(pid)), 10_000)).toBe(true);
    } finally {
      child.kill('SIGKILL');
      for (const pid of existsSync(mark) ? readFileSync(mark, 'utf8').split('\n').filter(Boolean).map(Number) : []) {
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
    }
  }, 90_000);
});

// Jest exiting 0 without a run (`--listTests` prints the files and writes no results): the line says a failure, and so
// does the exit status (it said 0).
describe('npm test (scripts/test.js) with no results from Jest', () => {
  it('prints the line of a failed run and exits with a failure', async () => {
    const { stdout, code } = await runToItsEnd(['--listTests', '--testMatch', '<rootDir>/test/scripts/fixtures/waits-too.fixture.ts']);
    expect(stdout).toContain('waits-too.fixture.ts');
    expect(stdout.trimEnd().split('\n').at(-1)).toBe('0 passed, 1 failed, 0 skipped');
    expect(code).toBe(1);
  }, 60_000);
});

// A service setting set in the shell (for `npm start`: README) reached every service the tests start, which set only
// their own: METRICS_TOKEN made /metrics answer 401, HOST had them listen where the tests do not call.
describe('npm test (scripts/test.js) in a shell that sets service settings', () => {
  it('leaves them out of the tests, but for the servers to test against, and says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'test-command-'));
    try {
      const mark = join(dir, 'env.json');
      const { stdout, code } = await runToItsEnd(['--testMatch', '<rootDir>/test/scripts/fixtures/reports-env.fixture.ts'], {
        FIXTURE_MARK: mark,
        METRICS_TOKEN: 'a-token-of-the-shell',
        HOST: '::1',
      });
      expect(stdout).toContain('Ignoring service settings set in this shell (the tests set their own): HOST, METRICS_TOKEN');
      expect(stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 0 failed, 0 skipped');
      expect(code).toBe(0);
      expect(JSON.parse(readFileSync(mark, 'utf8'))).toEqual({ METRICS_TOKEN: null, HOST: null, KAFKA_BROKERS: process.env.KAFKA_BROKERS, MONGO_URL: process.env.MONGO_URL });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
