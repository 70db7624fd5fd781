import { KafkaServer, SINGLE_NODE_SETTINGS } from './kafka';
import type { MongoServer } from './ferretdb';

const KAFKA_IMAGE = process.env.KAFKA_IMAGE ?? 'confluentinc/cp-kafka:7.7.1';
const MONGO_IMAGE = process.env.MONGO_IMAGE ?? 'mongo:7.0';

/** True when a Docker engine answers; testcontainers is then the way real servers are started. */
export async function dockerAvailable(): Promise<boolean> {
  if (process.env.TESTCONTAINERS_DISABLED === 'true') return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const client = await Promise.race([
      getContainerRuntimeClient(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 10_000)),
    ]);
    return Boolean(client);
  } catch {
    return false;
  }
}

/** Said before a container starts: pulling its image prints nothing, for minutes on a first run. */
const starting = (image: string) => `starting ${image} in a container (the first run pulls the image, which can take minutes)`;

/**
 * The container's broker settings: the local broker's SINGLE_NODE_SETTINGS as the image reads them (KAFKA_ and the
 * name upper-cased, dots as underscores). The module's own leave the transaction state log at three replicas, which
 * one broker never has: a transactional producer then waits for a coordinator until it gives up.
 */
export function kafkaContainerEnvironment(): Record<string, string> {
  return Object.fromEntries(SINGLE_NODE_SETTINGS.map(([name, value]) => [`KAFKA_${name.toUpperCase().replace(/\./g, '_')}`, String(value)]));
}

export async function startKafkaContainer(log: (line: string) => void = () => undefined): Promise<KafkaServer> {
  const { KafkaContainer } = await import('@testcontainers/kafka');
  log(starting(KAFKA_IMAGE));
  const container = await new KafkaContainer(KAFKA_IMAGE).withKraft().withEnvironment(kafkaContainerEnvironment()).start();
  return {
    brokers: [`${container.getHost()}:${container.getMappedPort(9093)}`],
    stop: async () => {
      await container.stop();
    },
  };
}

export async function startMongoContainer(log: (line: string) => void = () => undefined): Promise<MongoServer> {
  const { MongoDBContainer } = await import('@testcontainers/mongodb');
  log(starting(MONGO_IMAGE));
  const container = await new MongoDBContainer(MONGO_IMAGE).start();
  return {
    url: `mongodb://${container.getHost()}:${container.getMappedPort(27017)}/?directConnection=true`,
    stop: async () => {
      await container.stop();
    },
  };
}
