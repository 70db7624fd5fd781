import type { Config } from '@jest/types';
import { resolveInfra } from './infra/resolve';

/**
 * Jest global setup: real servers for the whole run. Workers inherit the endpoints through the environment.
 * Servers started here are stopped by the global teardown, and also if the run is interrupted.
 *
 * Kafka: one cluster per worker (`jest.worker-setup.ts` gives each worker its own). Every suite boots its services
 * with their own database and consumer group, but a topic is shared by everyone on the cluster: the notification
 * service of one suite would mail the users of a suite running beside it and publish outcomes (with the same
 * deterministic ids) onto the topic the other suite asserts on. Suites of one worker run one after another, each
 * starting its consumers at the end of the topics. MongoDB is shared: every suite uses databases of its own.
 */
export default async function globalSetup(globalConfig: Config.GlobalConfig): Promise<void> {
  const started = Date.now();
  const infra = await resolveInfra({ name: 'test', kafkaClusters: globalConfig.maxWorkers });
  process.env.KAFKA_BROKERS = infra.kafkaBrokers.join(',');
  process.env.KAFKA_BROKERS_BY_WORKER = infra.kafkaClusters.map((brokers) => brokers.join(',')).join(' ');
  process.env.MONGO_URL = infra.mongoUrl;
  process.env.TEST_RUN_DIR = infra.dataDir;
  (globalThis as { __infra?: typeof infra }).__infra = infra;
  // `on`, not `once`: a second signal (Ctrl-C reaches Jest, and `npm test` passes it on too) would otherwise find no
  // handler and kill Jest before the servers stopped. `stop` runs once however often it is called.
  const stopOnSignal = () => void infra.stop().finally(() => process.exit(130));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stopOnSignal);
  process.stdout.write(
    `\n[infra] kafka=${process.env.KAFKA_BROKERS_BY_WORKER} (${infra.mode.kafka}, ${infra.kafkaClusters.length} cluster(s)) ` +
      `mongo=${infra.mongoUrl} (${infra.mode.mongo}) ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
}
