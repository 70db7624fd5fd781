import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startFerretDb } from './ferretdb';
import { startKafka } from './kafka';
import { dockerAvailable, startKafkaContainer, startMongoContainer } from './testcontainers';

export interface Infra {
  kafkaBrokers: string[];
  mongoUrl: string;
  /** How each server was obtained. */
  mode: { kafka: 'environment' | 'testcontainers' | 'local'; mongo: 'environment' | 'testcontainers' | 'local' };
  stop(): Promise<void>;
}

export const PROJECT_ROOT = resolve(__dirname, '../../../..');

/**
 * Real Kafka and MongoDB, in this order: endpoints from KAFKA_BROKERS / MONGO_URL; testcontainers when a Docker
 * engine answers; otherwise servers the project provisions itself (Apache Kafka from Maven Central, FerretDB
 * from the Go module proxy), with data under `.local/run/<name>`.
 */
export async function resolveInfra({
  name = 'run',
  root = PROJECT_ROOT,
  log = () => undefined,
}: { name?: string; root?: string; log?: (line: string) => void } = {}): Promise<Infra> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const envKafka = process.env.KAFKA_BROKERS;
    const envMongo = process.env.MONGO_URL;
    const docker = !envKafka || !envMongo ? await dockerAvailable() : false;
    const dataDir = join(root, '.local', 'run', `${name}-${process.pid}`);
    mkdirSync(dataDir, { recursive: true });

    const kafkaPromise = envKafka
      ? Promise.resolve({ brokers: envKafka.split(','), stop: async () => undefined, mode: 'environment' as const })
      : docker
        ? startKafkaContainer().then((s) => ({ ...s, mode: 'testcontainers' as const }))
        : startKafka({ root, dataDir: join(dataDir, 'kafka'), log }).then((s) => ({ ...s, mode: 'local' as const }));
    const mongoPromise = envMongo
      ? Promise.resolve({ url: envMongo, stop: async () => undefined, mode: 'environment' as const })
      : docker
        ? startMongoContainer().then((s) => ({ ...s, mode: 'testcontainers' as const }))
        : startFerretDb({ root, dataDir: join(dataDir, 'mongo'), log }).then((s) => ({ ...s, mode: 'local' as const }));

    const [kafka, mongo] = await Promise.allSettled([kafkaPromise, mongoPromise]);
    if (kafka.status === 'fulfilled') stops.push(kafka.value.stop);
    if (mongo.status === 'fulfilled') stops.push(mongo.value.stop);
    if (kafka.status === 'rejected') throw kafka.reason;
    if (mongo.status === 'rejected') throw mongo.reason;
    return {
      kafkaBrokers: kafka.value.brokers,
      mongoUrl: mongo.value.url,
      mode: { kafka: kafka.value.mode, mongo: mongo.value.mode },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
