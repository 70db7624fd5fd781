#!/usr/bin/env node
/**
 * `npm run infra`: starts only Kafka and the MongoDB-compatible server (or uses KAFKA_BROKERS / MONGO_URL), prints
 * their endpoints as shell exports (also written to .local/infra.env), and keeps them up until Ctrl-C.
 */
const { writeFileSync, mkdirSync } = require('node:fs');
const { join } = require('node:path');
const { resolveInfra } = require('./platform');

(async () => {
  const infra = await resolveInfra({ name: 'infra', detached: true, log: (line) => process.stdout.write(`${line}\n`) });
  const env = `export KAFKA_BROKERS=${infra.kafkaBrokers.join(',')}\nexport MONGO_URL=${infra.mongoUrl}\n`;
  mkdirSync(join(__dirname, '..', '.local'), { recursive: true });
  writeFileSync(join(__dirname, '..', '.local', 'infra.env'), env);
  if (process.env.INFRA_ENV_FILE) writeFileSync(process.env.INFRA_ENV_FILE, env);
  process.stdout.write(`${env}# kafka: ${infra.mode.kafka}, mongo: ${infra.mode.mongo}. Ctrl-C stops them.\n`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await infra.stop();
    process.exit(0);
  };
  // SIGHUP too: closing the terminal no longer reaches the servers, which run in process groups of their own.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, stop);
  setInterval(() => undefined, 1 << 30);
})().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
