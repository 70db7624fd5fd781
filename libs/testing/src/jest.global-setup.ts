import { resolveInfra } from './infra/resolve';

/**
 * Jest global setup: real servers for the whole run. Workers inherit the endpoints through the environment.
 * Servers started here are stopped by the global teardown, and also if the run is interrupted.
 */
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const infra = await resolveInfra({ name: 'test' });
  process.env.KAFKA_BROKERS = infra.kafkaBrokers.join(',');
  process.env.MONGO_URL = infra.mongoUrl;
  (globalThis as { __infra?: typeof infra }).__infra = infra;
  const stopOnSignal = () => void infra.stop().finally(() => process.exit(130));
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  process.stdout.write(
    `\n[infra] kafka=${process.env.KAFKA_BROKERS} (${infra.mode.kafka}) mongo=${infra.mongoUrl} (${infra.mode.mongo}) ` +
      `ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
}
