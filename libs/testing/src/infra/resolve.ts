import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startFerretDb } from './ferretdb';
import { ensureKafkaJars, KafkaServer, startKafka } from './kafka';
import { startMongoJavaServer } from './mongo-java-server';
import { processAlive } from './process';
import { dockerAvailable, startKafkaContainer, startMongoContainer } from './testcontainers';

export interface Infra {
  /** The first (or only) Kafka cluster's brokers. */
  kafkaBrokers: string[];
  /** Every Kafka cluster started (`kafkaClusters` asked for); one shared cluster when it came from the environment. */
  kafkaClusters: string[][];
  mongoUrl: string;
  /** How each server was obtained. */
  mode: { kafka: 'environment' | 'testcontainers' | 'local'; mongo: 'environment' | 'testcontainers' | 'local' };
  /** The run's data folder (the servers', and the specs' own servers' under it: runDir), removed when it stops. */
  dataDir: string;
  stop(): Promise<void>;
}

export const PROJECT_ROOT = resolve(__dirname, '../../../..');

/**
 * Real Kafka and MongoDB, in this order: endpoints from KAFKA_BROKERS / MONGO_URL; testcontainers when a Docker
 * engine answers; otherwise servers the project provisions itself (Apache Kafka and mongo-java-server from
 * Maven Central; FerretDB from the Go module proxy with LOCAL_MONGO=ferretdb), with data under `.local/`.
 */
export async function resolveInfra({
  name = 'run',
  root = PROJECT_ROOT,
  persistent = false,
  kafkaClusters = 1,
  detached = false,
  log = () => undefined,
}: {
  name?: string;
  root?: string;
  /** Keep data across restarts under `.local/data/<name>` (npm start); tests use a fresh folder per run. */
  persistent?: boolean;
  /**
   * Separate single-node Kafka clusters to start (tests: one per Jest worker, so that the service instances of suites
   * running side by side never consume each other's events). Ignored when KAFKA_BROKERS names one.
   */
  kafkaClusters?: number;
  /** Servers in process groups of their own, so that Ctrl-C reaches only the script that stops them (npm start). */
  detached?: boolean;
  log?: (line: string) => void;
} = {}): Promise<Infra> {
  const stops: Array<() => Promise<void>> = [];
  // Once, however often it is called (a signal during the global teardown calls it again): a second pass would remove
  // the data folder while the first still stops the servers writing in it.
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const s of [...stops].reverse()) await s().catch(() => undefined);
    })());
  try {
    const envKafka = process.env.KAFKA_BROKERS;
    const envMongo = process.env.MONGO_URL;
    const docker = !envKafka || !envMongo ? await dockerAvailable() : false;
    const dataDir = persistent ? join(root, '.local', 'data', name) : join(root, '.local', 'run', `${name}-${process.pid}`);
    if (!persistent) removeStaleRunFolders(join(root, '.local', 'run'));
    mkdirSync(dataDir, { recursive: true });
    // A run's folder (Kafka's partitions: up to 200 MB after a benchmark) goes when the run stops; stops run last first.
    if (!persistent) stops.push(async () => rmSync(dataDir, { recursive: true, force: true }));

    const startOneKafka = (index: number): Promise<KafkaServer & { mode: Infra['mode']['kafka'] }> =>
      docker
        ? startKafkaContainer(log).then((s) => ({ ...s, mode: 'testcontainers' as const }))
        : startKafka({ root, dataDir: join(dataDir, index === 0 ? 'kafka' : `kafka-${index + 1}`), log, detached }).then((s) => ({ ...s, mode: 'local' as const }));
    const kafkaPromise = envKafka
      ? Promise.resolve([{ brokers: envKafka.split(','), stop: async () => undefined, mode: 'environment' as const }])
      : // The jars are fetched once before the brokers start side by side (a fresh clone has none yet).
        (docker ? Promise.resolve() : ensureKafkaJars(root, log)).then(() =>
          settleAll(Array.from({ length: Math.max(1, kafkaClusters) }, (_, index) => startOneKafka(index)), stops),
        );
    const mongoPromise = envMongo
      ? Promise.resolve({ url: envMongo, stop: async () => undefined, mode: 'environment' as const })
      : docker
        ? startMongoContainer(log).then((s) => ({ ...s, mode: 'testcontainers' as const }))
        : startLocalMongo(root, join(dataDir, 'mongo'), persistent, detached, log).then((s) => ({ ...s, mode: 'local' as const }));

    const [kafka, mongo] = await Promise.allSettled([kafkaPromise, mongoPromise]);
    if (mongo.status === 'fulfilled') stops.push(mongo.value.stop);
    if (kafka.status === 'rejected') throw kafka.reason;
    if (mongo.status === 'rejected') throw mongo.reason;
    return {
      kafkaBrokers: kafka.value[0].brokers,
      kafkaClusters: kafka.value.map((k) => k.brokers),
      mongoUrl: mongo.value.url,
      mode: { kafka: kafka.value[0].mode, mongo: mongo.value.mode },
      dataDir,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Waits for every start; each server that did start is registered to be stopped, also when another failed. */
async function settleAll<T extends { stop: () => Promise<void> }>(starts: Array<Promise<T>>, stops: Array<() => Promise<void>>): Promise<T[]> {
  const settled = await Promise.allSettled(starts);
  for (const s of settled) if (s.status === 'fulfilled') stops.push(s.value.stop);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/** mongo-java-server by default (atomic updates, fast); FerretDB when LOCAL_MONGO=ferretdb. */
function startLocalMongo(root: string, dataDir: string, persistent: boolean, detached: boolean, log: (line: string) => void) {
  if (process.env.LOCAL_MONGO === 'ferretdb') return startFerretDb({ root, dataDir, log, detached });
  return startMongoJavaServer({ root, dataDir, persistFile: persistent ? join(dataDir, 'platform.mv.db') : undefined, log, detached });
}

/**
 * The folders of runs killed before they could remove theirs (`<name>-<pid>`, the pid no longer alive): a killed run's
 * servers die with it (spawnServer), its partitions stay on disk until the next run removes them here.
 */
function removeStaleRunFolders(runs: string): void {
  let names: string[];
  try {
    names = readdirSync(runs);
  } catch {
    return; // no run yet
  }
  for (const name of names) {
    const pid = Number(/-(\d+)$/.exec(name)?.[1]);
    if (pid && pid !== process.pid && !processAlive(pid)) rmSync(join(runs, name), { recursive: true, force: true });
  }
}

