import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dyingWithParent, logSize, logTail, waitFor } from './process';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('spawnServer', () => {
  // What `npm start` killed with -9 left before: its servers (detached, in process groups of their own) kept running.
  // Skipped, not passed, where there is no setpriv --pdeathsig (util-linux) to check.
  const withSetpriv = dyingWithParent('true', [])[0] === 'setpriv' ? it : it.skip;
  withSetpriv('stops a detached server when the process that started it is killed with SIGKILL', async () => {
    const starter = `
      const { spawnServer } = require(${JSON.stringify(join(__dirname, 'process.ts'))});
      const server = spawnServer(process.execPath, ['-e', 'setInterval(() => undefined, 1000)'], {
        detached: true,
        logFile: ${JSON.stringify(join(tmpdir(), `spawn-server-${process.pid}.log`))},
      });
      console.log(server.child.pid);
      setInterval(() => undefined, 1000);
    `;
    const parent = spawn(process.execPath, ['-r', '@swc-node/register', '-e', starter], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    parent.stdout.on('data', (chunk) => (out += chunk));
    let serverPid = 0;
    try {
      serverPid = await waitFor('the server pid', async () => Number(out.trim()) || undefined, { timeoutMs: 30_000, intervalMs: 50 });
      expect(alive(serverPid)).toBe(true);
      parent.kill('SIGKILL');
      await waitFor('the server to stop', async () => !alive(serverPid), { timeoutMs: 10_000, intervalMs: 50 });
      expect(alive(serverPid)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
      if (serverPid && alive(serverPid)) process.kill(serverPid, 'SIGKILL');
    }
  });
});

describe("maven's run (mvn, Kafka's StorageTool)", () => {
  // A `kill -9` of `npm start` during the first jar fetch left `mvn` running on, with no timeout (its parent kept that).
  const withSetpriv = dyingWithParent('true', [])[0] === 'setpriv' ? it : it.skip;
  withSetpriv('stops the command it runs when the process that ran it is killed with SIGKILL', async () => {
    const starter = `
      const { run } = require(${JSON.stringify(join(__dirname, 'maven.ts'))});
      void run(process.execPath, ['-e', 'console.log(process.pid); setInterval(() => undefined, 1000)'], { timeoutMs: 60_000, label: 'a long step' }).catch(() => undefined);
      setInterval(() => undefined, 1000);
    `;
    const parent = spawn(process.execPath, ['-r', '@swc-node/register', '-e', starter], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stepPid = 0;
    try {
      // run() gives the output at the end: the step is found as the parent's child.
      stepPid = await waitFor(
        'the step pid',
        async () => {
          try {
            return Number(readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, 'utf8').trim().split(/\s+/)[0]) || undefined;
          } catch {
            return undefined;
          }
        },
        { timeoutMs: 30_000, intervalMs: 50 },
      );
      expect(alive(stepPid)).toBe(true);
      parent.kill('SIGKILL');
      await waitFor('the step to stop', async () => !alive(stepPid), { timeoutMs: 10_000, intervalMs: 50 });
      expect(alive(stepPid)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
      if (stepPid && alive(stepPid)) process.kill(stepPid, 'SIGKILL');
    }
  });
});

describe('logTail', () => {
  // A server's log is appended to, start after start: an "Address already in use" an earlier start logged must not be
  // read as this start's reason (nor have it retried on another port).
  it("gives the lines written since a start, not an earlier start's", () => {
    const dir = mkdtempSync(join(tmpdir(), 'log-tail-'));
    try {
      const file = join(dir, 'server.log');
      expect(logTail(file)).toBe('(no log)');
      writeFileSync(file, 'yesterday: java.net.BindException: Address already in use\n');
      const from = logSize(file);
      expect(logTail(file, from)).toBe('(nothing logged)');
      appendFileSync(file, 'today: Failed to acquire lock on file .lock\nexiting\n');
      expect(logTail(file, from)).toBe('today: Failed to acquire lock on file .lock\nexiting');
      expect(logTail(file, from, 1)).toBe('exiting');
      expect(logTail(file)).toContain('Address already in use');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
