import { ChildProcess, spawn, SpawnOptions, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { basename, dirname, join } from 'node:path';

/**
 * Removes what a killed process left of its work under `<path>.tmp-<pid>-<time>` (a jar fetch, a go build, written
 * there and renamed into place when done): those whose process is gone. A running one's is left to it.
 */
export function removeLeftovers(path: string): string[] {
  const dir = dirname(path);
  const prefix = `${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.startsWith(prefix));
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || processAlive(pid)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** Whether a process has this pid (one of another user's too: EPERM). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Asks the kernel for a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `probe` until it resolves truthy or the deadline passes; the last error is reported. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  { timeoutMs = 60_000, intervalMs = 250 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const result = await probe();
      if (result) return result;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
}

export function tcpReachable(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

export interface ManagedProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
  /** Resolves when the process exits, with its code or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The node options a service process runs with, wherever this project starts one (`npm start`, the end-to-end
 * platform, the benchmarks: SERVICE_NODE_ARGS; the Dockerfiles say the same in their CMD):
 *  - source maps, for stack traces that name the TypeScript lines;
 *  - a young generation of 32 MB semi-spaces (V8's default is 16 MB on 64-bit): a service allocates a lot of short-lived
 *    objects per request and per event (BSON, envelopes, validation), and with the default a scavenge ran so often that
 *    more of them survived into the old generation. Measured in the pipeline benchmark (bench/README.md, session 13):
 *    8% less CPU per decision and per Enroll call across the services, for about 30 MB more peak memory each;
 *  - no TimeoutNegativeWarning: KafkaJS 2.2 arms a timer with a negative delay on every broker response (its request
 *    queue's `throttledUntil` starts at -1: KafkaJS issue 1751), which Node 23 and later report on stderr each time, a
 *    line per heartbeat, fetch and produce among the JSON logs (the images run Node 24). Node 20 knows the flag from
 *    20.11 (older: left out, see SERVICE_NODE_ARGS).
 */
export const IMAGE_NODE_ARGS = ['--enable-source-maps', '--max-semi-space-size=32', '--disable-warning=TimeoutNegativeWarning'];
/** IMAGE_NODE_ARGS less what this Node does not know (`--disable-warning` came in 20.11: an older 20 would refuse it). */
export const SERVICE_NODE_ARGS = IMAGE_NODE_ARGS.filter((arg) => process.allowedNodeEnvironmentFlags.has(arg.split('=')[0]));

let parentDeathSignal: boolean | undefined;

/**
 * The command that runs `command` so that it gets SIGTERM when the process that started it dies, however it dies (a
 * `kill -9` of `npm start`, of a test run): util-linux's `setpriv --pdeathsig`, which sets the kernel's parent-death
 * signal and then execs the command (same pid). Where there is none (not Linux, no util-linux), the command as it is:
 * the servers are then stopped by `stop()` and the exit handlers only, which a SIGKILL skips.
 */
export function dyingWithParent(command: string, args: string[]): [string, string[]] {
  parentDeathSignal ??= process.platform === 'linux' && (spawnSync('setpriv', ['--help'], { encoding: 'utf8' }).stdout ?? '').includes('--pdeathsig');
  return parentDeathSignal ? ['setpriv', ['--pdeathsig', 'SIGTERM', '--', command, ...args]] : [command, args];
}

/**
 * Spawns a long-running server whose output goes to `logFile`. It stops when this process dies, also by SIGKILL, where
 * the system can say so (dyingWithParent): detached ones (`npm start`'s, in process groups of their own) included.
 */
export function spawnServer(
  command: string,
  args: string[],
  { logFile, ...options }: SpawnOptions & { logFile: string },
): ManagedProcess {
  mkdirSync(dirname(logFile), { recursive: true });
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(...dyingWithParent(command, args), { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    // 'close' comes after the output pipes are drained, so the last lines reach the log.
    child.once('close', (code, signal) => {
      log.end();
      resolve({ code, signal });
    });
  });
  return {
    child,
    logFile,
    exited,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** How long `file` is now: where a server started now begins writing its lines (logs are appended to, start after start). */
export function logSize(file: string): number {
  return existsSync(file) ? statSync(file).size : 0;
}

/**
 * The last `lines` lines `file` got from byte `from` on: this start's, not an earlier one's (an "Address already in
 * use" of yesterday's start must not read as today's reason, nor have it retried).
 */
export function logTail(file: string, from = 0, lines = 40): string {
  if (!existsSync(file)) return '(no log)';
  const text = readFileSync(file).subarray(from).toString('utf8').trimEnd();
  return text ? text.split('\n').slice(-lines).join('\n') : '(nothing logged)';
}
