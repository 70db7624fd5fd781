import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { ensureMavenJars, findJava, run } from './maven';
import { freePort, logSize, logTail, ManagedProcess, spawnServer, tcpReachable, waitFor } from './process';

export { findJava };

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
  /** Fixed ports, e.g. to restart a broker where its clients expect it; free ones otherwise. */
  brokerPort?: number;
  controllerPort?: number;
  /**
   * Start the server in a process group of its own (npm start, npm run infra): Ctrl-C in the terminal then reaches
   * only the script, which stops the services before the servers. Tests leave it off, so Ctrl-C stops the servers.
   */
  detached?: boolean;
  /** Broker settings over the ones below, e.g. `auto.create.topics.enable: false` (as on managed clusters). */
  settings?: Record<string, string | number | boolean>;
}

/** The POM listing the broker and its logging binding, relative to the project root. */
export const KAFKA_POM = join('deploy', 'local', 'kafka', 'pom.xml');
/** log4j 1.x configuration of the broker (console output, WARN plus a few INFO lifecycle loggers). */
export const KAFKA_LOG4J = join('deploy', 'local', 'kafka', 'log4j.properties');
/** Where the jars are cached, relative to the project root. */
export const KAFKA_LIBS_DIR = join('.local', 'kafka', 'libs');

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
const PROBE_TOPIC = '__local-kafka-ready-probe';

/** Fetches the broker's jars into `<root>/.local/kafka/libs` (once per pom.xml); returns the classpath. */
export function ensureKafkaJars(root: string, log: (line: string) => void = () => {}): Promise<string[]> {
  return ensureMavenJars({ root, pom: KAFKA_POM, libsDir: KAFKA_LIBS_DIR, what: 'Kafka 3.9.1', log });
}

/** A Kafka cluster id: 16 random bytes, base64url without padding (what `StorageTool random-uuid` prints). */
function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id; // Kafka's Uuid.randomUuid() avoids these too (they look like flags)
  }
}

/**
 * How a single broker behaves for this project, wherever it runs (this JVM, or a container: testcontainers.ts sets the
 * same): one replica of everything, internal topics included (transactions too: a single broker cannot host the
 * default three replicas of their state), and topics created on the fly with consumer groups joined at once.
 */
export const SINGLE_NODE_SETTINGS: ReadonlyArray<[string, string | number]> = [
  ['offsets.topic.replication.factor', 1],
  ['transaction.state.log.replication.factor', 1],
  ['transaction.state.log.min.isr', 1],
  ['default.replication.factor', 1],
  ['min.insync.replicas', 1],
  ['num.partitions', 6],
  ['auto.create.topics.enable', 'true'],
  ['delete.topic.enable', 'true'],
  ['group.initial.rebalance.delay.ms', 0],
];

function serverProperties(dataDir: string, brokerPort: number, controllerPort: number, overrides: StartKafkaOptions['settings'] = {}): string {
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
    ...SINGLE_NODE_SETTINGS,
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
  const merged = new Map<string, string | number | boolean>([...settings, ...Object.entries(overrides)]);
  return `# Written by libs/testing/src/infra/kafka.ts\n${[...merged].map(([k, v]) => `${k}=${v}`).join('\n')}\n`;
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
    const brokerPort = opts.brokerPort ?? (await freePort());
    let controllerPort = opts.controllerPort ?? (await freePort());
    while (controllerPort === brokerPort) controllerPort = await freePort();
    const brokers = [`127.0.0.1:${brokerPort}`];
    writeFileSync(propsFile, serverProperties(opts.dataDir, brokerPort, controllerPort, opts.settings));

    // A data directory formatted by an earlier start keeps its cluster id, topics and offsets;
    // it is not formatted again (the format tool would reject the new random cluster id).
    const started = Date.now();
    if (!existsSync(join(opts.dataDir, 'data', 'meta.properties'))) {
      await run(java, [...jvm, 'kafka.tools.StorageTool', 'format', '-t', randomClusterId(), '-c', propsFile], {
        timeoutMs: 60_000,
        label: `kafka.tools.StorageTool format -c ${propsFile}`,
      });
    }

    const logFrom = logSize(logFile);
    const proc = spawnServer(java, [...jvm, 'kafka.Kafka', propsFile], { logFile, detached: opts.detached });
    let spawnError: Error | undefined;
    proc.child.on('error', (error) => (spawnError = error));
    // Do not leave the JVM behind if the test process exits without calling stop().
    const killOnExit = () => proc.child.kill('SIGKILL');
    process.once('exit', killOnExit);
    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= proc.stop(STOP_GRACE_MS).finally(() => process.removeListener('exit', killOnExit)));

    try {
      await waitUntilReady(proc, brokers, brokerPort, logFile, logFrom, () => spawnError);
      log(
        `kafka ready at ${brokers[0]} (controller 127.0.0.1:${controllerPort}, pid ${proc.child.pid}, ` +
          `${((Date.now() - started) / 1000).toFixed(1)} s, log ${logFile})`,
      );
      return { brokers, stop };
    } catch (error) {
      await stop();
      // freePort() can race with another process grabbing the port: try other ones.
      const message = error instanceof Error ? error.message : String(error);
      if (attempt < START_ATTEMPTS && !opts.brokerPort && /address already in use/i.test(message)) {
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
  logFrom: number,
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
    throw new Error(`${error.message}\n--- tail of ${logFile} ---\n${logTail(logFile, logFrom)}`);
  });

  const outcome = await Promise.race([ready, exitedEarly]);
  if (outcome === 'exited' || spawnError()) {
    ready.catch(() => {}); // the poller sees `exit` on its next round and stops
    await new Promise((r) => setTimeout(r, 200)); // let the last output reach the log file
    const failure = spawnError();
    const cause = failure
      ? `could not be started (${failure.message})`
      : `exited before it was ready (code ${exit?.code}, signal ${exit?.signal})`;
    throw new Error(`kafka ${cause}\n--- tail of ${logFile} ---\n${logTail(logFile, logFrom)}`);
  }
}
