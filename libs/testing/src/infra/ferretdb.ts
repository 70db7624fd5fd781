import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureGoBinary } from './go-build';
import { MongoClient } from 'mongodb';
import { freePort, logSize, logTail, ManagedProcess, spawnServer, tcpReachable, waitFor } from './process';

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

// The PostgreSQL backend is compiled out: only SQLite is used, and the build is faster.
const BUILD_FLAGS = ['-tags', 'ferretdb_no_postgresql'];
const START_ATTEMPTS = 3;
const STOP_GRACE_MS = 5_000;
const READY_TIMEOUT_MS = 30_000;

/**
 * Builds `<root>/.local/bin/ferretdb-sqlite` unless the copy there was built from the current
 * main.go/go.mod/go.sum (a hash of them is kept in `ferretdb-sqlite.hash` next to the binary).
 * Returns the binary's absolute path.
 */
export function ensureFerretDbBinary(root: string, log: (line: string) => void = () => {}): Promise<string> {
  return ensureGoBinary(root, { sourceDir: FERRETDB_SOURCE_DIR, binary: FERRETDB_BINARY, flags: BUILD_FLAGS, label: 'the first build takes ~30-60 s' }, log);
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
    const logFrom = logSize(logFile);
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
      await waitUntilReady(proc, port, url, logFile, logFrom);
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

async function waitUntilReady(proc: ManagedProcess, port: number, url: string, logFile: string, logFrom: number): Promise<void> {
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
    throw new Error(`${error.message}\n--- tail of ${logFile} ---\n${logTail(logFile, logFrom)}`);
  });

  const outcome = await Promise.race([ready, exitedEarly]);
  if (outcome === 'exited') {
    ready.catch(() => {}); // the poller sees `exit` on its next round and stops
    await new Promise((r) => setTimeout(r, 200)); // let the last output reach the log file
    throw new Error(
      `ferretdb exited before it was ready (code ${exit?.code}, signal ${exit?.signal})\n` +
        `--- tail of ${logFile} ---\n${logTail(logFile, logFrom)}`,
    );
  }
}
