import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import type { MongoServer } from './ferretdb';
import { ensureMavenJars, findJava } from './maven';
import { freePort, logSize, logTail, spawnServer, tcpReachable, waitFor } from './process';

/**
 * A local MongoDB-compatible server: mongo-java-server 1.46 (Maven Central) on the installed JDK, in memory, or
 * persisted in an H2 file when `persistFile` is given. Chosen over FerretDB 1.24 for the platform's default
 * because it applies each update atomically (FerretDB's read-then-replace loses concurrent updates to one
 * document) and is fast enough for the benchmarks. See deploy/local/mongo/README.md.
 */
export const MONGO_POM = join('deploy', 'local', 'mongo', 'pom.xml');
export const MONGO_LAUNCHER = join('deploy', 'local', 'mongo', 'MongoLauncher.java');
export const MONGO_LIBS_DIR = join('.local', 'mongo-java-server', 'libs');

/**
 * The server keeps every document on the JVM heap. With 2 GB, the benchmark's data (three bursts of 10,000 decisions
 * and their invitations, messages and enrollments: about 1.4 GB live) filled the old generation, and each full
 * collection stopped the server for 0.7 s: the steady run's p99 spikes. The heap only grows as far as it is used, so
 * tests (small data) are unaffected. Serial collection: no collector threads competing with the services for the
 * two cores. MONGO_JVM_EXTRA adds flags, e.g. `-Xlog:gc:file=/tmp/mongo-gc.log` to see the server's pauses.
 */
const JVM_FLAGS = ['-Xmx6g', '-Xss512k', '-XX:+UseSerialGC', '-Djava.awt.headless=true', ...(process.env.MONGO_JVM_EXTRA ?? '').split(' ').filter(Boolean)];
const STOP_GRACE_MS = 10_000;
const START_ATTEMPTS = 3;

export async function startMongoJavaServer({
  root,
  dataDir,
  persistFile,
  log = () => {},
  detached,
}: {
  root: string;
  dataDir: string;
  /** Keep the data in this H2 file across restarts; in memory when absent. */
  persistFile?: string;
  log?: (line: string) => void;
  /**
   * Start the server in a process group of its own (npm start, npm run infra): Ctrl-C in the terminal then reaches
   * only the script, which stops the services before the servers. Tests leave it off, so Ctrl-C stops the servers.
   */
  detached?: boolean;
}): Promise<MongoServer> {
  const jars = await ensureMavenJars({ root, pom: MONGO_POM, libsDir: MONGO_LIBS_DIR, what: 'mongo-java-server', log });
  mkdirSync(dataDir, { recursive: true });
  if (persistFile) mkdirSync(join(persistFile, '..'), { recursive: true });
  const logFile = join(dataDir, 'mongo.log');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = [...JVM_FLAGS, '-cp', jars.join(':'), join(root, MONGO_LAUNCHER), '127.0.0.1', String(port), ...(persistFile ? [persistFile] : [])];
    const started = Date.now();
    const logFrom = logSize(logFile);
    const server = spawnServer(findJava(), args, { cwd: root, logFile, detached });
    const kill = () => server.child.kill('SIGKILL');
    process.once('exit', kill);
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    void server.exited.then((result) => (exit = result));
    const url = `mongodb://127.0.0.1:${port}/`;
    try {
      const state = await waitFor(
        `mongo-java-server on port ${port}`,
        async () => {
          if (exit) return 'exited' as const; // stops polling; reported below
          if (!(await tcpReachable('127.0.0.1', port, 500))) return false;
          const client = new MongoClient(url, { directConnection: true, serverSelectionTimeoutMS: 2_000 });
          try {
            await client.connect();
            await client.db('admin').command({ ping: 1 });
            return 'ready' as const;
          } finally {
            await client.close();
          }
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      // A server that exits while starting (its H2 file locked by one still stopping, a bad MONGO_JVM_EXTRA, the
      // port taken since freePort) is reported at once, with what it logged this time, not after the whole wait.
      if (state === 'exited') {
        throw new Error(`mongo-java-server on port ${port} exited while starting (${exit!.signal ?? `code ${exit!.code}`}):\n${logTail(logFile, logFrom)}`);
      }
    } catch (error) {
      process.removeListener('exit', kill);
      await server.stop(1_000);
      // freePort() can race with another process taking the port: try another one.
      if (attempt < START_ATTEMPTS && /address already in use/i.test((error as Error).message)) {
        log(`port ${port} was taken, retrying`);
        continue;
      }
      throw error;
    }
    log(`mongo-java-server ready at ${url} (${persistFile ? 'H2 ' + persistFile : 'memory'}, ${((Date.now() - started) / 1000).toFixed(1)} s, log ${logFile})`);
    return {
      url,
      stop: async () => {
        process.removeListener('exit', kill);
        await server.stop(STOP_GRACE_MS);
      },
    };
  }
}
