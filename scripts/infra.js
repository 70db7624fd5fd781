#!/usr/bin/env node
/**
 * `npm run infra`: starts only Kafka and the MongoDB-compatible server (or uses KAFKA_BROKERS / MONGO_URL), prints
 * their endpoints as shell exports (also written to .local/infra.env, and to INFRA_ENV_FILE when set, each removed
 * again when they stop unless another run wrote its own there since), and keeps them up
 * until Ctrl-C.
 */
const { readFileSync, writeFileSync, mkdirSync, rmSync } = require('node:fs');
const { join } = require('node:path');
const { resolveInfra } = require('./platform');

// Its terminal gone (closed, an SSH session lost) or the reader of its pipe stopped: writes fail (EIO, EPIPE), which
// unheard would end this process at once and kill what it started. Stopping goes on without them.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

const envFile = join(__dirname, '..', '.local', 'infra.env');

(async () => {
  let infra;
  let env;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // The endpoints are gone with the servers: a later `source .local/infra.env` must not point tests at dead ports.
    // Only files that still hold ours: a second `npm run infra` started since wrote its own there.
    for (const file of [envFile, process.env.INFRA_ENV_FILE].filter(Boolean)) {
      try {
        if (env && readFileSync(file, 'utf8') === env) rmSync(file, { force: true });
      } catch {
        // gone already
      }
    }
    await infra.stop();
    process.exit(0);
  };
  // Before the servers start (they run detached, in process groups of their own, so Ctrl-C does not reach them): a
  // signal while they start stops them once they are up, instead of leaving them running. SIGHUP too: closing the
  // terminal no longer reaches them.
  let signalled = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (infra) void stop();
      // Until they are up nothing else is said, for minutes on a first run (jars, images): not a frozen terminal.
      else if (!signalled) process.stdout.write('\nStopping once the servers being started are up...\n');
      signalled = true;
    });
  }
  infra = await resolveInfra({ name: 'infra', detached: true, log: (line) => process.stdout.write(`${line}\n`) });
  if (signalled) return stop();
  env = `export KAFKA_BROKERS=${infra.kafkaBrokers.join(',')}\nexport MONGO_URL=${infra.mongoUrl}\n`;
  mkdirSync(join(__dirname, '..', '.local'), { recursive: true });
  writeFileSync(envFile, env);
  if (process.env.INFRA_ENV_FILE) writeFileSync(process.env.INFRA_ENV_FILE, env);
  process.stdout.write(`${env}# kafka: ${infra.mode.kafka}, mongo: ${infra.mode.mongo}. Ctrl-C stops them.\n`);
  setInterval(() => undefined, 1 << 30);
})().catch((error) => {
  // Ctrl-C during a first run's jar fetch reaches `mvn` too (the terminal's process group) and ends it: interrupted, not
  // failed (run() in maven.ts gives its error the signal); resolveInfra has stopped what it had started.
  if (['SIGINT', 'SIGTERM', 'SIGHUP'].includes(error?.signal)) {
    process.stdout.write('Stopped.\n');
    process.exit(130);
  }
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
