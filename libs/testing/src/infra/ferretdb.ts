import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { freePort, ManagedProcess, spawnServer, tcpReachable, waitFor } from './process';

/**
 * A local MongoDB wire-compatible server: FerretDB 1.24 with its SQLite backend, embedded in
 * the small Go program in deploy/local/ferretdb (see its README for what it supports).
 */
export interface MongoServer {
  /** `mongodb://127.0.0.1:PORT/`; the caller picks the database (one per service). */
  url: string;
  /** SIGTERM, then SIGKILL after a grace period. Resolves once the process has exited. */
  stop(): Promise<void>;
}

export interface StartFerretDbOptions {
  /** Project root (the directory holding package.json and deploy/). */
  root: string;
  /** Where the SQLite files (`<dataDir>/sqlite/`) and the log (`<dataDir>/ferretdb.log`) go. */
  dataDir: string;
  /** Progress messages (build, start, failures). */
  log?: (line: string) => void;
  /**
   * Start the server in a process group of its own (npm start, npm run infra): Ctrl-C in the terminal then reaches
   * only the script, which stops the services before the servers. Tests leave it off, so Ctrl-C stops the servers.
   */
  detached?: boolean;
}

/** Go sources of the embedded server, relative to the project root. */
export const FERRETDB_SOURCE_DIR = join('deploy', 'local', 'ferretdb');
/** The built binary, relative to the project root. */
export const FERRETDB_BINARY = join('.local', 'bin', 'ferretdb-sqlite');

const SOURCE_FILES = ['main.go', 'go.mod', 'go.sum'];
// The PostgreSQL backend is compiled out: only SQLite is used, and the build is faster.
const BUILD_FLAGS = ['-tags', 'ferretdb_no_postgresql', '-buildvcs=false'];
const START_ATTEMPTS = 3;
const STOP_GRACE_MS = 5_000;
const READY_TIMEOUT_MS = 30_000;

/**
 * Builds `<root>/.local/bin/ferretdb-sqlite` unless the copy there was built from the current
 * main.go/go.mod/go.sum (a hash of them is kept in `ferretdb-sqlite.hash` next to the binary).
 * Returns the binary's absolute path.
 */
export async function ensureFerretDbBinary(root: string, log: (line: string) => void = () => {}): Promise<string> {
  const sourceDir = join(root, FERRETDB_SOURCE_DIR);
  const binary = join(root, FERRETDB_BINARY);
  const hashFile = `${binary}.hash`;

  const hash = createHash('sha256');
  hash.update(BUILD_FLAGS.join(' '));
  for (const file of SOURCE_FILES) {
    hash.update(`\0${file}\0`);
    hash.update(readFileSync(join(sourceDir, file)));
  }
  const digest = hash.digest('hex');

  if (existsSync(binary) && existsSync(hashFile) && readFileSync(hashFile, 'utf8').trim() === digest) {
    return binary;
  }

  mkdirSync(join(root, '.local', 'bin'), { recursive: true });
  // Build under a unique name and rename, so that concurrent starts never see a partial binary.
  const tmp = `${binary}.tmp-${process.pid}-${Date.now()}`;
  const go = process.env.GO ?? 'go';
  const started = Date.now();
  log(`building ${FERRETDB_BINARY} from ${FERRETDB_SOURCE_DIR} (go build; the first build takes ~30-60 s)`);
  await new Promise<void>((resolve, reject) => {
    execFile(
      go,
      ['build', ...BUILD_FLAGS, '-o', tmp, '.'],
      { cwd: sourceDir, env: process.env, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          rmSync(tmp, { force: true });
          reject(new Error(`go build of ${FERRETDB_SOURCE_DIR} failed: ${error.message}\n${stdout}${stderr}`));
        } else {
          resolve();
        }
      },
    );
  });
  renameSync(tmp, binary);
  writeFileSync(hashFile, `${digest}\n`);
  log(`built ${FERRETDB_BINARY} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return binary;
}

/** Builds (if needed) and starts FerretDB on a free loopback port; resolves once `ping` answers. */
export async function startFerretDb(opts: StartFerretDbOptions): Promise<MongoServer> {
  const log = opts.log ?? (() => {});
  const binary = await ensureFerretDbBinary(opts.root, log);
  mkdirSync(opts.dataDir, { recursive: true });
  const logFile = join(opts.dataDir, 'ferretdb.log');
  const sqliteDir = join(opts.dataDir, 'sqlite');

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const url = `mongodb://127.0.0.1:${port}/`;
    const proc = spawnServer(
      binary,
      ['-listen-addr', `127.0.0.1:${port}`, '-sqlite-dir', sqliteDir, '-log-level', 'error'],
      { logFile, detached: opts.detached },
    );
    // Do not leave the server behind if the test process exits without calling stop().
    const killOnExit = () => proc.child.kill('SIGKILL');
    process.once('exit', killOnExit);
    const stop = async () => {
      await proc.stop(STOP_GRACE_MS);
      process.removeListener('exit', killOnExit);
    };

    try {
      await waitUntilReady(proc, port, url, logFile);
      log(`ferretdb ready at ${url} (pid ${proc.child.pid}, log ${logFile})`);
      return { url, stop };
    } catch (error) {
      await stop();
      // freePort() can race with another process grabbing the port: try another one.
      const message = error instanceof Error ? error.message : String(error);
      if (attempt < START_ATTEMPTS && /address already in use/i.test(message)) {
        log(`port ${port} was taken, retrying`);
        continue;
      }
      throw error;
    }
  }
}

async function waitUntilReady(proc: ManagedProcess, port: number, url: string, logFile: string): Promise<void> {
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitedEarly = proc.exited.then((result) => {
    exit = result;
    return 'exited' as const;
  });

  const ready = waitFor(
    `FerretDB ping at ${url}`,
    async () => {
      if (exit) return 'exited' as const; // stops polling; reported below
      // Cheap check first: the driver would otherwise wait for its next heartbeat (500 ms).
      if (!(await tcpReachable('127.0.0.1', port, 500))) return false;
      const client = new MongoClient(url, { directConnection: true, serverSelectionTimeoutMS: 2_000 });
      try {
        await client.db('admin').command({ ping: 1 });
        return 'ready' as const;
      } finally {
        await client.close().catch(() => {});
      }
    },
    { timeoutMs: READY_TIMEOUT_MS, intervalMs: 100 },
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n--- tail of ${logFile} ---\n${logTail(logFile)}`);
  });

  const outcome = await Promise.race([ready, exitedEarly]);
  if (outcome === 'exited') {
    ready.catch(() => {}); // the poller sees `exit` on its next round and stops
    await new Promise((r) => setTimeout(r, 200)); // let the last output reach the log file
    throw new Error(
      `ferretdb exited before it was ready (code ${exit?.code}, signal ${exit?.signal})\n` +
        `--- tail of ${logFile} ---\n${logTail(logFile)}`,
    );
  }
}

function logTail(logFile: string, lines = 40): string {
  try {
    return readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
