import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dyingWithParent, logSize, logTail, processAlive, removeLeftovers, waitFor } from './process';

const alive = processAlive;

/** The first child process of `pid` (Linux), if it has one yet. */
function childOf(pid: number): number | undefined {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0]) || undefined;
  } catch {
    return undefined;
  }
}

// Skipped, not passed, where there is no setpriv --pdeathsig (util-linux) to check.
const withSetpriv = dyingWithParent('true', [])[0] === 'setpriv' ? it : it.skip;

/**
 * Runs `starter` (a script) as a process of its own, finds the process it starts (`started`, from its output), kills the
 * starter with SIGKILL and expects that process to stop with it.
 */
async function diesWithItsStarter(starter: string, started: (out: string, starterPid: number) => number | undefined): Promise<void> {
  const parent = spawn(process.execPath, ['-r', '@swc-node/register', '-e', starter], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  parent.stdout.on('data', (chunk) => (out += chunk));
  let pid = 0;
  try {
    pid = await waitFor('the started process', async () => started(out, parent.pid!), { timeoutMs: 30_000, intervalMs: 50 });
    expect(alive(pid)).toBe(true);
    parent.kill('SIGKILL');
    await waitFor('the started process to stop', async () => !alive(pid), { timeoutMs: 10_000, intervalMs: 50 });
    expect(alive(pid)).toBe(false);
  } finally {
    parent.kill('SIGKILL');
    if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
  }
}

describe('spawnServer', () => {
  // What `npm start` killed with -9 left before: its servers (detached, in process groups of their own) kept running.
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
    await diesWithItsStarter(starter, (out) => Number(out.trim()) || undefined);
  });
});

describe("maven's run (mvn, Kafka's StorageTool)", () => {
  // A `kill -9` of `npm start` during the first jar fetch left `mvn` running on, with no timeout (its parent kept that).
  withSetpriv('stops the command it runs when the process that ran it is killed with SIGKILL', async () => {
    const starter = `
      const { run } = require(${JSON.stringify(join(__dirname, 'maven.ts'))});
      void run(process.execPath, ['-e', 'setInterval(() => undefined, 1000)'], { timeoutMs: 60_000, label: 'a long step' }).catch(() => undefined);
      setInterval(() => undefined, 1000);
    `;
    // run() gives the output at the end: the step is found as the starter's child.
    await diesWithItsStarter(starter, (_, starterPid) => childOf(starterPid));
  });
});

describe('ensureGoBinary (go build of FerretDB, promcheck)', () => {
  // A `kill -9` of `npm start` during FerretDB's first build (a minute or more) left `go build` running on.
  withSetpriv('stops go build when the process that ran it is killed with SIGKILL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'go-build-'));
    try {
      // A go that builds for ever; a Go module for it to build.
      const go = join(dir, 'go');
      writeFileSync(go, '#!/bin/sh\nexec sleep 600\n', { mode: 0o755 });
      for (const file of ['main.go', 'go.mod', 'go.sum']) writeFileSync(join(dir, file), '');
      const starter = `
        process.env.GO = ${JSON.stringify(go)};
        const { ensureGoBinary } = require(${JSON.stringify(join(__dirname, 'go-build.ts'))});
        void ensureGoBinary(${JSON.stringify(dir)}, { sourceDir: '.', binary: 'bin/x', label: 'a long build' }).catch(() => undefined);
        setInterval(() => undefined, 1000);
      `;
      await diesWithItsStarter(starter, (_, starterPid) => childOf(starterPid));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('removeLeftovers', () => {
  // A kill -9 during the first jar fetch or go build left `.local/kafka/libs.tmp-<pid>-<time>` for good.
  it("removes what a killed process left under <path>.tmp-<pid>-<time>, not a running one's, nor another path's", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leftovers-'));
    try {
      const gone = spawn(process.execPath, ['-e', '']);
      await new Promise((resolve) => gone.on('exit', resolve));
      const dead = gone.pid!;
      for (const name of [`libs.tmp-${dead}-1`, `libs.tmp-${process.pid}-2`, `other.tmp-${dead}-3`, 'libs']) mkdirSync(join(dir, name));
      writeFileSync(join(dir, `libs.tmp-${dead}-1`, 'a.jar'), 'x');

      expect(removeLeftovers(join(dir, 'libs'))).toEqual([`libs.tmp-${dead}-1`]);
      expect(readdirSync(dir).sort()).toEqual(['libs', `libs.tmp-${process.pid}-2`, `other.tmp-${dead}-3`].sort());
      expect(removeLeftovers(join(dir, 'missing', 'libs'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
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
