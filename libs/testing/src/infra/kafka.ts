import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  accessSync,
  constants as fsConstants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { freePort, ManagedProcess, spawnServer, tcpReachable, waitFor } from './process';

/**
 * A local Apache Kafka 3.9.1 broker: single node, KRaft (broker and controller in one JVM), run
 * from the jars of Maven Central on the installed JDK. See deploy/local/kafka/README.md.
 */
export interface KafkaServer {
  /** `['127.0.0.1:PORT']`: the PLAINTEXT listener. */
  brokers: string[];
  /** SIGTERM (controlled shutdown), then SIGKILL after 15 s. Resolves once the JVM has exited. */
  stop(): Promise<void>;
}

export interface StartKafkaOptions {
  /** Project root (the directory holding package.json and deploy/). */
  root: string;
  /**
   * Where `server.properties`, the partition data (`<dataDir>/data/`) and the log
   * (`<dataDir>/kafka.log`) go. A directory formatted by an earlier start is reused as it is.
   */
  dataDir: string;
  /** Progress messages (jar fetch, start, failures). */
  log?: (line: string) => void;
}

/** The POM listing the broker and its logging binding, relative to the project root. */
export const KAFKA_POM = join('deploy', 'local', 'kafka', 'pom.xml');
/** log4j 1.x configuration of the broker (console output, WARN plus a few INFO lifecycle loggers). */
export const KAFKA_LOG4J = join('deploy', 'local', 'kafka', 'log4j.properties');
/** Where the jars are cached, relative to the project root. */
export const KAFKA_LIBS_DIR = join('.local', 'kafka', 'libs');

const MAVEN_GOAL = ['dependency:copy-dependencies', '-DincludeScope=runtime'];
const JVM_FLAGS = [
  '-Xmx512m',
  '-Xms256m',
  // Measured on 2 cores (see the README): C1-only compilation takes the JVM from ~1.2 s to ~0.9 s
  // until "Kafka Server started", and short test workloads run as fast or faster, since C2 no
  // longer competes for the cores. SerialGC: a 512 MB heap needs no G1 and its threads.
  '-XX:+UseSerialGC',
  '-XX:TieredStopAtLevel=1',
  '-Djava.awt.headless=true',
];
const START_ATTEMPTS = 3;
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 15_000;
const MAVEN_TIMEOUT_MS = 10 * 60_000;
const LOCK_STALE_MS = 15 * 60_000;
const PROBE_TOPIC = '__local-kafka-ready-probe';

/** Finds an executable on PATH (or returns undefined). */
function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `$JAVA_HOME/bin/java` when JAVA_HOME is set, else `java` from PATH. */
export function findJava(): string {
  const fromHome = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : undefined;
  if (fromHome && existsSync(fromHome)) return fromHome;
  const java = onPath('java');
  if (!java) {
    throw new Error(
      'Kafka needs a Java runtime (17 or newer): no `java` on PATH' +
        (process.env.JAVA_HOME ? ` and none in JAVA_HOME=${process.env.JAVA_HOME}` : '') +
        '. Install one, e.g. `apt-get install openjdk-17-jre-headless`.',
    );
  }
  return java;
}

function run(
  command: string,
  args: string[],
  options: { cwd?: string; timeoutMs: number; label: string },
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, env: process.env, maxBuffer: 32 * 1024 * 1024, timeout: options.timeoutMs },
      (error, stdout, stderr) => {
        if (error) {
          const output = `${stdout}${stderr}`.trim().split('\n').slice(-40).join('\n');
          reject(new Error(`${options.label} failed (${error.code ?? error.signal ?? 'error'}): ${command}\n${output}`));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

/** Takes a directory lock (mkdir is atomic), waiting for another holder; stale locks are broken. */
async function withLock<T>(lockDir: string, fn: () => Promise<T>, log: (line: string) => void): Promise<T> {
  let announced = false;
  for (;;) {
    try {
      mkdirSync(lockDir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      try {
        if (Date.now() - statSync(lockDir).mtimeMs > LOCK_STALE_MS) {
          rmSync(lockDir, { recursive: true, force: true });
          continue;
        }
      } catch {
        continue; // released meanwhile
      }
      if (!announced) {
        log(`waiting for another process to finish fetching the Kafka jars (${lockDir})`);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

function listJars(libsDir: string): string[] {
  return readdirSync(libsDir)
    .filter((name) => name.endsWith('.jar'))
    .sort()
    .map((name) => join(libsDir, name));
}

/**
 * Fetches the broker's jars into `<root>/.local/kafka/libs` with `mvn dependency:copy-dependencies`,
 * unless they were fetched from the current pom.xml (its SHA-256 is kept in `libs.hash` next to the
 * directory). Returns the jars' absolute paths, sorted (the classpath).
 */
export async function ensureKafkaJars(root: string, log: (line: string) => void = () => {}): Promise<string[]> {
  const pom = join(root, KAFKA_POM);
  const libsDir = join(root, KAFKA_LIBS_DIR);
  const hashFile = `${libsDir}.hash`;
  const digest = createHash('sha256')
    .update(MAVEN_GOAL.join(' '))
    .update('\0')
    .update(readFileSync(pom))
    .digest('hex');
  const fresh = () =>
    existsSync(libsDir) && existsSync(hashFile) && readFileSync(hashFile, 'utf8').trim() === digest;

  if (!fresh()) {
    mkdirSync(join(root, '.local', 'kafka'), { recursive: true });
    await withLock(
      `${libsDir}.lock`,
      async () => {
        if (fresh()) return; // another process fetched them while we waited
        const mvn = process.env.MVN ?? onPath('mvn');
        if (!mvn) {
          throw new Error(
            `Fetching the Kafka jars needs Maven: no \`mvn\` on PATH (or set MVN). Install it, e.g. \`apt-get install maven\`, ` +
              `or fill ${libsDir} by hand with \`mvn -f ${KAFKA_POM} ${MAVEN_GOAL.join(' ')} -DoutputDirectory=${KAFKA_LIBS_DIR}\`.`,
          );
        }
        findJava(); // Maven needs it too: fail with the clear message
        const tmp = `${libsDir}.tmp-${process.pid}-${Date.now()}`;
        const started = Date.now();
        log(`fetching the Kafka 3.9.1 jars from Maven Central into ${KAFKA_LIBS_DIR} (first time: ~15 s, ~46 MB)`);
        try {
          await run(mvn, ['-q', '-B', '-f', pom, ...MAVEN_GOAL, `-DoutputDirectory=${tmp}`], {
            cwd: root,
            timeoutMs: MAVEN_TIMEOUT_MS,
            label: `mvn -f ${KAFKA_POM} ${MAVEN_GOAL.join(' ')}`,
          });
          if (!existsSync(tmp) || listJars(tmp).length === 0) throw new Error(`mvn copied no jars into ${tmp}`);
          rmSync(hashFile, { force: true });
          rmSync(libsDir, { recursive: true, force: true });
          renameSync(tmp, libsDir);
          writeFileSync(hashFile, `${digest}\n`);
        } finally {
          rmSync(tmp, { recursive: true, force: true });
        }
        log(`fetched ${listJars(libsDir).length} jars in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      },
      log,
    );
  }
  return listJars(libsDir);
}

/** A Kafka cluster id: 16 random bytes, base64url without padding (what `StorageTool random-uuid` prints). */
function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id; // Kafka's Uuid.randomUuid() avoids these too (they look like flags)
  }
}

function serverProperties(dataDir: string, brokerPort: number, controllerPort: number): string {
  const settings: [string, string | number][] = [
    // Single node, KRaft: this JVM is the broker and the only controller (quorum of one).
    ['process.roles', 'broker,controller'],
    ['node.id', 1],
    ['controller.quorum.voters', `1@127.0.0.1:${controllerPort}`],
    ['listeners', `PLAINTEXT://127.0.0.1:${brokerPort},CONTROLLER://127.0.0.1:${controllerPort}`],
    ['advertised.listeners', `PLAINTEXT://127.0.0.1:${brokerPort}`],
    ['listener.security.protocol.map', 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT'],
    ['controller.listener.names', 'CONTROLLER'],
    ['inter.broker.listener.name', 'PLAINTEXT'],
    ['log.dirs', join(dataDir, 'data')],
    // One replica of everything, internal topics included.
    ['offsets.topic.replication.factor', 1],
    ['transaction.state.log.replication.factor', 1],
    ['transaction.state.log.min.isr', 1],
    ['default.replication.factor', 1],
    ['min.insync.replicas', 1],
    // Tests create topics on the fly and join consumer groups immediately.
    ['num.partitions', 6],
    ['auto.create.topics.enable', 'true'],
    ['delete.topic.enable', 'true'],
    ['group.initial.rebalance.delay.ms', 0],
    // Small machine (2 cores): fewer threads and smaller buffers than the production defaults.
    ['num.network.threads', 2],
    ['num.io.threads', 2],
    ['num.replica.fetchers', 1],
    ['num.recovery.threads.per.data.dir', 1],
    ['background.threads', 2],
    ['log.cleaner.threads', 1],
    ['log.cleaner.dedupe.buffer.size', 8 * 1024 * 1024],
    // Internal topics: 50 partitions each by default, created on first use; 6 is plenty here.
    ['offsets.topic.num.partitions', 6],
    ['transaction.state.log.num.partitions', 6],
    ['log.segment.bytes', 16 * 1024 * 1024],
    ['offsets.topic.segment.bytes', 16 * 1024 * 1024],
    ['transaction.state.log.segment.bytes', 16 * 1024 * 1024],
    ['log.index.size.max.bytes', 1024 * 1024],
    ['log.retention.hours', 24],
  ];
  return `# Written by libs/testing/src/infra/kafka.ts\n${settings.map(([k, v]) => `${k}=${v}`).join('\n')}\n`;
}

/** Fetches the jars (if needed), formats `dataDir` (if needed) and starts the broker on free loopback ports. */
export async function startKafka(opts: StartKafkaOptions): Promise<KafkaServer> {
  const log = opts.log ?? (() => {});
  const java = findJava();
  const jars = await ensureKafkaJars(opts.root, log);
  const classpath = jars.join(delimiter);
  const log4j = pathToFileURL(join(opts.root, KAFKA_LOG4J)).href;
  mkdirSync(opts.dataDir, { recursive: true });
  const logFile = join(opts.dataDir, 'kafka.log');
  const propsFile = join(opts.dataDir, 'server.properties');
  const jvm = [...JVM_FLAGS, `-Dlog4j.configuration=${log4j}`, '-cp', classpath];

  for (let attempt = 1; ; attempt++) {
    const brokerPort = await freePort();
    let controllerPort = await freePort();
    while (controllerPort === brokerPort) controllerPort = await freePort();
    const brokers = [`127.0.0.1:${brokerPort}`];
    writeFileSync(propsFile, serverProperties(opts.dataDir, brokerPort, controllerPort));

    // A data directory formatted by an earlier start keeps its cluster id, topics and offsets;
    // it is not formatted again (the format tool would reject the new random cluster id).
    const started = Date.now();
    if (!existsSync(join(opts.dataDir, 'data', 'meta.properties'))) {
      await run(java, [...jvm, 'kafka.tools.StorageTool', 'format', '-t', randomClusterId(), '-c', propsFile], {
        timeoutMs: 60_000,
        label: `kafka.tools.StorageTool format -c ${propsFile}`,
      });
    }

    const proc = spawnServer(java, [...jvm, 'kafka.Kafka', propsFile], { logFile });
    let spawnError: Error | undefined;
    proc.child.on('error', (error) => (spawnError = error));
    // Do not leave the JVM behind if the test process exits without calling stop().
    const killOnExit = () => proc.child.kill('SIGKILL');
    process.once('exit', killOnExit);
    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= proc.stop(STOP_GRACE_MS).finally(() => process.removeListener('exit', killOnExit)));

    try {
      await waitUntilReady(proc, brokers, brokerPort, logFile, () => spawnError);
      log(
        `kafka ready at ${brokers[0]} (controller 127.0.0.1:${controllerPort}, pid ${proc.child.pid}, ` +
          `${((Date.now() - started) / 1000).toFixed(1)} s, log ${logFile})`,
      );
      return { brokers, stop };
    } catch (error) {
      await stop();
      // freePort() can race with another process grabbing the port: try other ones.
      const message = error instanceof Error ? error.message : String(error);
      if (attempt < START_ATTEMPTS && /address already in use/i.test(message)) {
        log(`port ${brokerPort} or ${controllerPort} was taken, retrying`);
        continue;
      }
      throw error;
    }
  }
}

async function waitUntilReady(
  proc: ManagedProcess,
  brokers: string[],
  port: number,
  logFile: string,
  spawnError: () => Error | undefined,
): Promise<void> {
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitedEarly = proc.exited.then((result) => {
    exit = result;
    return 'exited' as const;
  });

  const ready = waitFor(
    `Kafka at ${brokers[0]} to create and describe a topic`,
    async () => {
      if (exit || spawnError()) return 'exited' as const; // stops polling; reported below
      if (!(await tcpReachable('127.0.0.1', port, 500))) return false;
      const kafka = new Kafka({
        clientId: 'local-kafka-ready-probe',
        brokers,
        logLevel: logLevel.NOTHING,
        connectionTimeout: 2_000,
        requestTimeout: 10_000,
        retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1_000 },
      });
      const admin = kafka.admin();
      try {
        await admin.connect();
        const cluster = await admin.describeCluster();
        if (cluster.brokers.length === 0) return false;
        // A topic with a leader means the controller and the broker both work.
        await admin.createTopics({ topics: [{ topic: PROBE_TOPIC, numPartitions: 1 }], waitForLeaders: true });
        const { topics } = await admin.fetchTopicMetadata({ topics: [PROBE_TOPIC] });
        if (!(topics[0]?.partitions[0]?.leader >= 0)) return false;
        // Finding a group coordinator creates __consumer_offsets now rather than in the first test.
        await admin.describeGroups([PROBE_TOPIC]);
        await admin.deleteTopics({ topics: [PROBE_TOPIC] }).catch(() => {});
        return 'ready' as const;
      } finally {
        await admin.disconnect().catch(() => {});
      }
    },
    { timeoutMs: READY_TIMEOUT_MS, intervalMs: 200 },
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n--- tail of ${logFile} ---\n${logTail(logFile)}`);
  });

  const outcome = await Promise.race([ready, exitedEarly]);
  if (outcome === 'exited' || spawnError()) {
    ready.catch(() => {}); // the poller sees `exit` on its next round and stops
    await new Promise((r) => setTimeout(r, 200)); // let the last output reach the log file
    const failure = spawnError();
    const cause = failure
      ? `could not be started (${failure.message})`
      : `exited before it was ready (code ${exit?.code}, signal ${exit?.signal})`;
    throw new Error(`kafka ${cause}\n--- tail of ${logFile} ---\n${logTail(logFile)}`);
  }
}

function logTail(logFile: string, lines = 40): string {
  try {
    return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
