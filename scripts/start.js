#!/usr/bin/env node
/**
 * `npm start`: the whole platform on this machine. Provisions Kafka and the MongoDB-compatible server (or uses
 * KAFKA_BROKERS / MONGO_URL), starts a mail catcher with a web view, builds and starts the five services (one
 * database each), waits until every service is ready, and prints where everything is. Ctrl-C stops everything.
 */
const { spawnSync } = require('node:child_process');
const { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { generateKeyPairSync, randomBytes } = require('node:crypto');
const { join, resolve } = require('node:path');
const { buildServices, resolveInfra, SERVICE_NODE_ARGS, spawnServer, tcpReachable, waitFor, withLock } = require('./platform');

const root = join(__dirname, '..');
const logs = join(root, '.local', 'logs');
const base = Number(process.env.PORT_BASE ?? 3001);
const host = '127.0.0.1';

const SERVICES = ['identity', 'invitations', 'enrollment', 'payout-profiles', 'notification'];
const port = (service) => base + SERVICES.indexOf(service);
const url = (service) => `http://${host}:${port(service)}`;
const MAIL = { smtp: Number(process.env.MAIL_SMTP_PORT ?? 1025), web: Number(process.env.MAIL_WEB_PORT ?? 1080) };

// Its terminal gone (closed, an SSH session lost) or the reader of its pipe stopped: writes fail (EIO, EPIPE), which
// unheard would end this process at once and kill what it started. Stopping goes on without them.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

const say = (line) => process.stdout.write(`${line}\n`);

/** Where a running platform says who it is (its pid) and where it answers; removed when it stops. */
const platformFile = join(root, '.local', 'platform.json');
/** The provisioning's directory lock of a start: its secrets and its platform.json are claimed under it. */
const startLock = join(root, '.local', 'start.lock');

/**
 * Writes a file only its owner reads (the operator key is in it), whole: written aside, then renamed over the file, so
 * that another start never reads it cut short (and takes a running platform's file for a stale one).
 */
function writePrivate(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** The platform an `npm start` of this checkout runs now, from .local/platform.json; none when its pid is gone. */
function runningPlatform() {
  let running;
  try {
    running = JSON.parse(readFileSync(platformFile, 'utf8'));
  } catch {
    return undefined;
  }
  if (!Number.isInteger(running.pid) || running.pid === process.pid) return undefined;
  try {
    process.kill(running.pid, 0);
  } catch (error) {
    if (error.code === 'ESRCH') return undefined; // killed without cleaning up: stale
  }
  // After a crash the pid may have been given to another program: check it is still this checkout's start.js (its
  // command line names this file by its absolute path: see the `start` script), and that it started when the file
  // says (a pid reused by a later start.js of this checkout is not the one that wrote it). Without /proc (macOS),
  // `ps` tells the command line.
  if (!sameProcess(running)) return undefined;
  return running;
}

/** Whether `running.pid` is still the start.js of this checkout that wrote platform.json. */
function sameProcess(running) {
  const self = join(root, 'scripts', 'start.js');
  if (existsSync('/proc/self/cmdline')) {
    // Linux: its script argument (`node scripts/start.js`, relative to its working directory) must be this file.
    try {
      const args = readFileSync(`/proc/${running.pid}/cmdline`, 'utf8').split('\0');
      const cwd = readlinkSync(`/proc/${running.pid}/cwd`);
      if (!args.some((arg) => arg.endsWith('start.js') && resolve(cwd, arg) === self)) return false;
    } catch {
      return false;
    }
  } else {
    // Elsewhere (macOS): `ps` gives the command line only; a start.js of some checkout.
    try {
      const command = spawnSync('ps', ['-o', 'command=', '-p', String(running.pid)], { encoding: 'utf8' }).stdout ?? '';
      if (!/scripts\/start\.js/.test(command)) return false;
    } catch {
      return false;
    }
  }
  if (running.startedAt && existsSync(`/proc/${running.pid}/stat`)) {
    // A process that started after the file was written cannot have written it.
    const started = processStartMs(running.pid);
    if (started !== undefined && started > Date.parse(running.startedAt) + 5_000) return false;
  }
  return true;
}

/** When a process started, from /proc (Linux): field 22 of its stat, in clock ticks since boot. */
function processStartMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop().split(' ');
    const ticks = Number(fields[19]);
    const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    return Date.now() - uptime * 1000 + (ticks / 100) * 1000;
  } catch {
    return undefined;
  }
}

/**
 * Refuses to start next to a running platform, before building anything: a second start would rebuild dist/ under
 * the running services, then fail on the Kafka data folder the first one holds.
 */
async function refuseIfRunning() {
  const running = runningPlatform();
  if (running) throw alreadyRunning(running);
  const wanted = [...SERVICES.map((s) => [s, port(s)]), ['mail SMTP', MAIL.smtp], ['mail web view', MAIL.web]];
  const taken = (await Promise.all(wanted.map(async ([what, p]) => ((await tcpReachable(host, p, 500)) ? `${p} (${what})` : undefined)))).filter(Boolean);
  if (taken.length) {
    throw new Refusal(
      `${taken.length > 1 ? 'Ports' : 'Port'} ${taken.join(', ')} already in use (another platform or checkout?). Stop what holds it, or choose other ports ` +
        `with PORT_BASE (now ${base}), MAIL_SMTP_PORT and MAIL_WEB_PORT.`,
    );
  }
}

class Refusal extends Error {}

function alreadyRunning(running) {
  return new Refusal(
    `The platform is already running (pid ${running.pid}, identity at ${running.urls?.identity ?? '?'}). ` +
      `Stop it first (Ctrl-C in its terminal, or kill -INT ${running.pid}).`,
  );
}

/**
 * Writes platform.json only where no running start has one, under `.local/start.lock` (the provisioning's directory
 * lock: one holder at a time, broken when its holder is gone): of two `npm start` run together, which both passed
 * refuseIfRunning, the second finds the first's file here and is refused. A file a killed run left (its pid gone) is
 * written over.
 */
async function claimPlatformFile(text) {
  await withLock(
    startLock,
    async () => {
      const running = runningPlatform();
      if (running) throw alreadyRunning(running);
      writePrivate(platformFile, text);
    },
    say,
  );
}

/**
 * Local secrets are made once and kept in .local/, so a restart can still decrypt what it stored. Read and made under
 * the start lock: of two first `npm start` run together, the second reads the first's, never writes its own over them
 * (the one that runs would encrypt with keys the file no longer holds).
 */
async function localSecrets() {
  let secrets;
  await withLock(startLock, async () => void (secrets = keptOrMadeSecrets()), say);
  return secrets;
}

function keptOrMadeSecrets() {
  const file = join(root, '.local', 'secrets.json');
  const kept = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const made = {
    OPERATOR_TOKEN: () => `local-operator-${randomBytes(6).toString('hex')}`,
    PAYOUT_ENCRYPTION_KEYS: () => `k1:${randomBytes(32).toString('base64')}`,
    // identity's token signing key: tokens signed before a restart stay valid after it.
    JWT_SIGNING_KEY: () => generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } }).privateKey,
  };
  const missing = Object.keys(made).filter((name) => !kept[name]);
  if (!missing.length) return kept;
  const secrets = { ...kept, ...Object.fromEntries(missing.map((name) => [name, made[name]()])) };
  mkdirSync(join(root, '.local'), { recursive: true });
  writePrivate(file, JSON.stringify(secrets, null, 2));
  return secrets;
}

async function main() {
  const started = Date.now();
  await refuseIfRunning();
  mkdirSync(logs, { recursive: true });
  const secrets = await localSecrets();
  const processes = [];
  let infra;
  let stopping = false;
  const stop = async (code = 0) => {
    if (stopping) return;
    stopping = true;
    say('\nStopping the services (they drain and flush their outboxes), then the mail catcher and the servers...');
    // The services first, the mail catcher after them (notification may be sending while it drains), each given its own
    // shutdown time (SHUTDOWN_TIMEOUT_MS, which reaches them too) and 5 s more before SIGKILL.
    const [mail, ...services] = processes;
    const grace = (Number(process.env.SHUTDOWN_TIMEOUT_MS) || 20_000) + 5_000;
    await Promise.all(services.map((p) => p.stop(grace)));
    await mail?.stop(5_000);
    await infra?.stop();
    say('Stopped.');
    process.exit(code);
  };
  // Before platform.json is written: a signal during the build, with nothing started yet, just ends this run (the exit
  // handler below takes the file with it), instead of leaving a file that says "starting" for a run that is gone.
  // From the start of Kafka and MongoDB (they run detached): a signal while they start stops them once they are up,
  // instead of leaving them running. SIGHUP too: closing the terminal no longer reaches the servers, which run in
  // process groups of their own.
  let signalled = false;
  let serversStarting = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (!serversStarting) process.exit(130);
      if (infra) void stop(0);
      // Until they are up nothing else is said, for minutes on a first run (jars, images): not a frozen terminal.
      else if (!signalled) say('\nStopping once the servers being started are up...');
      signalled = true;
    });
  }
  const platform = { pid: process.pid, startedAt: new Date().toISOString(), urls: Object.fromEntries(SERVICES.map((s) => [s, url(s)])), mail: `http://${host}:${MAIL.web}`, operatorKey: secrets.OPERATOR_TOKEN };
  // Written at once (state "starting"), so a second `npm start` during the build or the startup is refused too.
  await claimPlatformFile(JSON.stringify({ ...platform, state: 'starting' }, null, 2));
  // However this run ends (Ctrl-C, a failure), the file goes with it; one left by a killed run names a dead pid.
  process.on('exit', () => {
    try {
      if (JSON.parse(readFileSync(platformFile, 'utf8')).pid === process.pid) rmSync(platformFile, { force: true });
    } catch {
      // already gone
    }
  });
  say('Building the services...');
  // Under the build lock the end-to-end specs take too (a test run at the same time), and failing if either step does.
  await buildServices(say);
  // A signal sent to this process alone during the build (`kill -INT`: tsc, run synchronously, never saw it) is
  // handled once the build has returned (a few turns of the event loop later): nothing started yet, so this run ends.
  await new Promise((resolve) => setTimeout(resolve, 100));
  if (signalled) process.exit(130);

  // Those set in the shell are used as they are (resolveInfra's order), and said so once it has them (fromEnvironment).
  const toStart = [
    ['Kafka', 'KAFKA_BROKERS'],
    ['MongoDB', 'MONGO_URL'],
  ]
    .filter(([, variable]) => !process.env[variable])
    .map(([name]) => name);
  if (toStart.length) say(`Starting ${toStart.join(' and ')}...`);
  serversStarting = true;
  // Its progress shown (the first run fetches the jars; another checkout's run may hold the lock on them).
  infra = await resolveInfra({ name: 'platform', persistent: true, detached: true, log: say });
  if (signalled) await stop(0);
  const fromShell = fromEnvironment(infra);
  if (fromShell.length) say(`Using ${fromShell.map(({ name, at, variable }) => `${name} at ${at} (${variable} from your shell)`).join(' and ')}.`);
  // Containers go when the platform stops (testcontainers.ts), and their data with them: say so, since the local
  // servers keep it.
  const inContainers = [
    ['Kafka', infra.mode.kafka],
    ['MongoDB', infra.mode.mongo],
  ]
    .filter(([, mode]) => mode === 'testcontainers')
    .map(([name]) => name);
  if (inContainers.length) {
    say(
      `${inContainers.join(' and ')} run${inContainers.length > 1 ? '' : 's'} in containers (a Docker engine answered) that are removed when the ` +
        'platform stops, so the data starts empty each time; TESTCONTAINERS_DISABLED=true npm start uses the local servers, ' +
        'which keep it under .local/data/platform.',
    );
  }
  // In groups of their own, the services would outlive a crash of this script.
  process.on('exit', () => processes.forEach((p) => p.child.kill('SIGKILL')));

  try {
    processes.push(
      spawnServer(process.execPath, [join(root, 'node_modules', 'maildev', 'bin', 'maildev'), '--ip', host, '--web-ip', host, '--smtp', String(MAIL.smtp), '--web', String(MAIL.web), '--silent'], {
        cwd: root,
        detached: true,
        logFile: join(logs, 'maildev.log'),
      }),
    );
    // Each service its own database and consumer group (their defaults, from SERVICE_NAME): one service's MONGO_DB or
    // KAFKA_GROUP_ID left in the shell (to run it alone) would give all five one database and split their partitions.
    const { MONGO_DB: _db, KAFKA_GROUP_ID: _group, ...environment } = process.env;
    const common = {
      ...environment,
      NODE_ENV: 'development',
      MONGO_URL: infra.mongoUrl,
      KAFKA_BROKERS: infra.kafkaBrokers.join(','),
      JWT_ISSUER: url('identity'),
      JWKS_URL: `${url('identity')}/.well-known/jwks.json`,
      OPERATOR_TOKEN: secrets.OPERATOR_TOKEN,
      // This machine only, as the servers above: development sign-in (any user's token for an email) is on.
      HOST: host,
      PORTAL_BASE_URL: process.env.PORTAL_BASE_URL ?? 'http://localhost:8080',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    };
    const own = {
      identity: { DEV_SIGN_IN_ENABLED: 'true', JWT_SIGNING_KEY: secrets.JWT_SIGNING_KEY },
      enrollment: { PAYOUT_PROFILES_API_URL: url('payout-profiles') },
      'payout-profiles': { PAYOUT_ENCRYPTION_KEYS: secrets.PAYOUT_ENCRYPTION_KEYS, PAYOUT_ENCRYPTION_ACTIVE_KEY_ID: 'k1' },
      notification: { SMTP_URL: `smtp://${host}:${MAIL.smtp}` },
    };
    say('Starting the services...');
    for (const service of SERVICES) {
      processes.push(
        spawnServer(process.execPath, [...SERVICE_NODE_ARGS, join(root, 'dist', 'services', service, 'src', 'main.js')], {
          cwd: root,
          // Own process groups: Ctrl-C reaches this script only, which stops the services first, then the servers.
          detached: true,
          env: { ...common, ...own[service], PORT: String(port(service)), SERVICE_NAME: service },
          logFile: join(logs, `${service}.log`),
        }),
      );
    }
    const [mail, ...services] = processes;
    await Promise.all(SERVICES.map((service, i) => readyOrExited(service, services[i], async () => (await fetch(`${url(service)}/health/ready`)).ok, { timeoutMs: 120_000, intervalMs: 500 })));
    await readyOrExited('the mail catcher', mail, async () => (await fetch(`http://${host}:${MAIL.web}/`)).ok, { timeoutMs: 30_000 });

    writePrivate(platformFile, JSON.stringify({ ...platform, state: 'ready', kafkaBrokers: infra.kafkaBrokers, mongoUrl: infra.mongoUrl }, null, 2));
    say(`\nThe incentives enrollment platform is up (${((Date.now() - started) / 1000).toFixed(0)} s).\n`);
    for (const service of SERVICES) say(`  ${service.padEnd(16)} ${url(service).padEnd(24)} docs: ${url(service)}/docs`);
    say(`  ${'mail (web view)'.padEnd(16)} http://${host}:${MAIL.web}   (SMTP on ${host}:${MAIL.smtp})`);
    say(`  ${'kafka'.padEnd(16)} ${infra.kafkaBrokers.join(',')} (${infra.mode.kafka})`);
    say(`  ${'mongodb'.padEnd(16)} ${infra.mongoUrl} (${infra.mode.mongo}; one database per service)`);
    say(`  ${'logs'.padEnd(16)} ${logs}/<service>.log`);
    say(`\n  Operator key (X-Operator-Key): ${secrets.OPERATOR_TOKEN}`);
    say(`  Walk the article's story against it:  npm run demo\n\nCtrl-C stops everything (in the background: kill -INT ${process.pid}).`);
    for (const p of processes) {
      p.exited.then(({ code, signal }) => {
        if (!stopping) {
          say(`A process stopped unexpectedly (code ${code}, signal ${signal}); see ${p.logFile}`);
          void stop(1);
        }
      });
    }
    watchServers(infra, () => stopping, (what) => {
      say(`${what} stopped answering (see ${logs}); stopping the platform.`);
      void stop(1);
    });
  } catch (error) {
    if (stopping) return; // a signal stops the platform: the services it stops end the waits above, and it exits
    say(`\n${error.message}`);
    // Left in the shell by a `source .local/infra.env` whose `npm run infra` is gone, they name dead servers.
    const variables = fromShell.map(({ variable }) => variable);
    if (variables.length) {
      say(`${variables.join(' and ')} ${variables.length > 1 ? 'are' : 'is'} set in your shell, and used: check ${variables.length > 1 ? 'they answer' : 'it answers'}, or \`unset ${variables.join(' ')}\` to have npm start provision its own.`);
    }
    await stop(1);
  }
}

/** The servers `infra` took from KAFKA_BROKERS / MONGO_URL (resolveInfra's mode "environment"), where, and from which variable. */
function fromEnvironment(infra) {
  return [
    { name: 'Kafka', at: infra.kafkaBrokers.join(','), variable: 'KAFKA_BROKERS', mode: infra.mode.kafka },
    { name: 'MongoDB', at: infra.mongoUrl, variable: 'MONGO_URL', mode: infra.mode.mongo },
  ].filter(({ mode }) => mode === 'environment');
}

/**
 * Waits until `name` answers `probe`, as waitFor does, but fails at once, with its exit code or signal and its log, when
 * its process `p` exits first (a bad setting stops a service within a second; the wait would go on to its timeout).
 */
function readyOrExited(name, p, probe, options) {
  const exitedFirst = p.exited.then(({ code, signal }) => {
    throw new Error(`${name} exited before it was ready (${signal ? `signal ${signal}` : `code ${code}`}); see ${p.logFile}`);
  });
  // Once ready it has lost the race, and rejects when the process stops later (Ctrl-C): not an unhandled rejection.
  exitedFirst.catch(() => undefined);
  return Promise.race([waitFor(`${name} to be ready (see ${p.logFile})`, probe, options), exitedFirst]);
}

/**
 * The servers this run started itself (not ones from the environment, which may come back): each is checked every
 * 5 s, and one that refuses connections three times in a row (killed, out of memory) is reported, as a service
 * stopping is, instead of the services turning unready in silence.
 */
function watchServers(infra, stopping, lost) {
  const endpoint = (hostPort) => {
    const at = hostPort.lastIndexOf(':');
    return { host: hostPort.slice(0, at), port: Number(hostPort.slice(at + 1)) };
  };
  const watched = [];
  if (infra.mode.kafka === 'local') watched.push(['Kafka', endpoint(infra.kafkaBrokers[0])]);
  if (infra.mode.mongo === 'local') watched.push(['MongoDB', endpoint(new URL(infra.mongoUrl).host)]);
  for (const [what, { host, port }] of watched) {
    let failures = 0;
    const timer = setInterval(async () => {
      if (stopping()) return clearInterval(timer);
      failures = (await tcpReachable(host, port, 2_000)) ? 0 : failures + 1;
      if (failures === 3 && !stopping()) {
        clearInterval(timer);
        lost(`${what} (${host}:${port})`);
      }
    }, 5_000);
    timer.unref();
  }
}

main().catch((error) => {
  if (error instanceof Refusal) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  // Ctrl-C during the build reaches tsc too (it runs in the terminal's process group) and ends it before this script's
  // own handler can run: the build was interrupted, not failed (platform.json goes with the exit, as for the handler).
  // So does one during a first run's jar fetch reach `mvn` (run() in maven.ts gives its error the signal), once
  // resolveInfra has stopped what it had started.
  if (['SIGINT', 'SIGTERM', 'SIGHUP'].includes(error?.signal)) {
    say('Stopped.');
    process.exit(130);
  }
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
