/**
 * The whole platform as deployed: the five services as separate processes from the production build, on the
 * run's real Kafka and MongoDB (one database each), with a real SMTP server. Tests speak to it only over HTTP,
 * Kafka and SMTP, and can kill (-9) and restart any service.
 */
import { ALL_TOPICS } from '@lib/contracts';
import { consumerGroupFor, PENDING_OUTBOX } from '@lib/messaging';
import { freePort, logSize, logTail, ManagedProcess, OPERATOR_KEY, PROJECT_ROOT, SERVICE_NODE_ARGS, SmtpTestServer, spawnServer, startGroupAtEnd, TestKafka, waitFor } from '@lib/testing';
import { buildServices } from '@lib/testing/infra/build';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { exportPKCS8, generateKeyPair } from 'jose';
import { MongoClient } from 'mongodb';
import { NOTIFICATION_OWN_CONSUMERS } from '../../services/notification/src/consumers';

export const SERVICES = ['identity', 'invitations', 'enrollment', 'payout-profiles', 'notification'] as const;
export type ServiceName = (typeof SERVICES)[number];

export interface PlatformOptions {
  /** Settings per service, on top of (and overriding) the harness's own. */
  env?: Partial<Record<ServiceName, Record<string, string>>>;
  /** `false`: the SMTP server records arrivals only, without parsing or keeping the mails (benchmarks). */
  parseMail?: boolean;
  /** Node options per service that NODE_OPTIONS does not allow, e.g. `--cpu-prof` (benchmarks). */
  nodeArgs?: Partial<Record<ServiceName, string[]>>;
}

/**
 * Runs (a run: one Platform, e.g. one spec file or benchmark run) whose service logs stay in `.local/logs`, this one
 * included: enough to read a failed run's after it and the runs beside it, without each run adding five files for good.
 * Jest does not tell an afterAll whether its tests failed, so the oldest are removed when a platform starts, instead of
 * a passing run's when it stops.
 */
const KEPT_RUNS = 10;

/** Starts of the five services, each on ports chosen again when one was taken before its service bound it. */
const PORT_ATTEMPTS = 3;

/** Removes the logs of all but the last KEPT_RUNS - 1 runs (by when each last wrote), before this one writes its own. */
function pruneRunLogs(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return; // no log yet
  }
  const runLogs = names.flatMap((name) => {
    const run = /^e2e-([0-9a-f]{8})-.+\.log$/.exec(name)?.[1];
    return run ? [{ name, run }] : [];
  });
  const lastWritten = new Map<string, number>();
  for (const { name, run } of runLogs) {
    try {
      lastWritten.set(run, Math.max(lastWritten.get(run) ?? 0, statSync(join(dir, name)).mtimeMs));
    } catch {
      // removed meanwhile (a run starting beside this one)
    }
  }
  const old = new Set([...lastWritten].sort(([, a], [, b]) => b - a).slice(KEPT_RUNS - 1).map(([run]) => run));
  for (const { name, run } of runLogs) if (old.has(run)) rmSync(join(dir, name), { force: true });
}

export class Platform {
  readonly smtp: SmtpTestServer;
  readonly operatorKey = OPERATOR_KEY;
  private readonly run = randomBytes(4).toString('hex');
  private readonly ports = new Map<ServiceName, number>();
  private readonly processes = new Map<ServiceName, ManagedProcess>();
  private env: Record<string, string> = {};

  constructor(private readonly options: PlatformOptions = {}) {
    this.smtp = new SmtpTestServer({ parse: options.parseMail ?? true });
  }

  /** The process id of a running service (e.g. to read its memory from /proc). */
  pid(service: ServiceName): number | undefined {
    return this.processes.get(service)?.child.pid;
  }

  url(service: ServiceName): string {
    return `http://127.0.0.1:${this.ports.get(service)}`;
  }

  logFile(service: ServiceName): string {
    return join(PROJECT_ROOT, '.local', 'logs', `e2e-${this.run}-${service}.log`);
  }

  groupId(service: ServiceName): string {
    return `${service}-e2e-${this.run}`;
  }

  /** The consumer group in which `service` reads `topic` (a consumer of its own for some: MessagingOptions.ownConsumers). */
  groupFor(service: ServiceName, topic: string): string {
    const ownConsumers = service === 'notification' ? NOTIFICATION_OWN_CONSUMERS : undefined;
    return consumerGroupFor({ serviceName: service, brokers: [], groupId: this.groupId(service), ownConsumers }, topic);
  }

  /** The MongoDB database of a service (on `MONGO_URL`). */
  database(service: ServiceName): string {
    return `${service.replace(/-/g, '_')}_e2e_${this.run}`;
  }

  /**
   * Waits until `service`'s relay has published every event its writes so far left in outboxes (no document of its
   * database holds one): an HTTP answer comes before the events of its change are on their topics, so a consumer
   * group caught up on the end offsets read just after the answer may not have them yet.
   */
  async relayed(service: ServiceName, timeoutMs = 30_000): Promise<void> {
    const mongo = await MongoClient.connect(process.env.MONGO_URL!);
    try {
      const db = mongo.db(this.database(service));
      await waitFor(`${service}'s outboxes to be published`, async () => {
        for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
          if (await db.collection(name).countDocuments(PENDING_OUTBOX, { limit: 1 })) return false;
        }
        return true;
      }, { timeoutMs });
    } finally {
      await mongo.close();
    }
  }

  async start(): Promise<this> {
    pruneRunLogs(join(PROJECT_ROOT, '.local', 'logs'));
    await buildServices();
    await this.smtp.start();
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    this.env = {
      KAFKA_BROKERS: process.env.KAFKA_BROKERS!,
      MONGO_URL: process.env.MONGO_URL!,
      OPERATOR_TOKEN: this.operatorKey,
      LOG_LEVEL: 'info',
      KAFKA_RETRY_BACKOFF_MS: '50',
      OUTBOX_RELAY_INTERVAL_MS: '250',
      OUTBOX_SWEEP_INTERVAL_MS: '250',
      // identity: a key that survives restarts, so tokens issued before a crash stay valid
      JWT_SIGNING_KEY: await exportPKCS8(privateKey),
      JWT_KEY_ID: `e2e-${this.run}`,
      DEV_SIGN_IN_ENABLED: 'true',
      // payout-profiles
      PAYOUT_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      PAYOUT_ENCRYPTION_ACTIVE_KEY_ID: 'k1',
      // notification
      SMTP_URL: this.smtp.url,
      NOTIFY_BACKOFF_MS: '200',
      PORTAL_BASE_URL: 'https://partner.example.com/dashboard',
      // invitations: its topic, shared by the run, holds other tests' invitations, none of this database's.
      INVITATIONS_HISTORY_FLOORS: 'false',
    };
    // Topics of a shared test run hold other tests' history: these services start from now.
    const kafka = new TestKafka();
    await kafka.ensureTopics(ALL_TOPICS); // once, so that the offsets below never race topic creation
    await kafka.close();
    for (const service of SERVICES) {
      // Each group the service reads in (notification reads identity events in a group of its own), on its topics.
      const groups = new Map<string, string[]>();
      for (const topic of ALL_TOPICS) {
        const group = this.groupFor(service, topic);
        groups.set(group, [...(groups.get(group) ?? []), topic]);
      }
      for (const [group, topics] of groups) await startGroupAtEnd(group, topics);
    }
    // The ports are free when chosen and bound seconds later, each by its service once it has booted: another process
    // of the test run (a broker, an SMTP or HTTP server of another worker's spec) may take one meanwhile. The five are
    // then chosen again and the services started again, as the brokers and database servers do.
    for (let attempt = 1; ; attempt++) {
      await this.choosePorts();
      // What each service logs from this attempt on (an earlier attempt's port refusal is not this one's reason).
      const from = new Map(SERVICES.map((service) => [service, logSize(this.logFile(service))]));
      const started = await Promise.allSettled(SERVICES.map((service) => this.startService(service)));
      const failed = started.flatMap((result, i) => (result.status === 'rejected' ? [{ service: SERVICES[i], error: result.reason as Error }] : []));
      if (failed.length === 0) return this;
      const portTaken = failed.some(({ service }) => /EADDRINUSE|address already in use/i.test(logTail(this.logFile(service), from.get(service))));
      await Promise.all([...this.processes.values()].map((p) => p.stop(20_000)));
      this.processes.clear();
      if (!portTaken || attempt === PORT_ATTEMPTS) throw failed[0].error;
    }
  }

  /** A free port for each service, five different ones, and the issuer's address (identity's) for all of them. */
  private async choosePorts(): Promise<void> {
    const chosen = new Set<number>();
    while (chosen.size < SERVICES.length) chosen.add(await freePort());
    SERVICES.forEach((service, i) => this.ports.set(service, [...chosen][i]));
    const identity = this.url('identity');
    this.env.JWT_ISSUER = identity;
    this.env.JWKS_URL = `${identity}/.well-known/jwks.json`;
  }

  /** Starts (or restarts) one service with the same settings, and waits until it is ready. */
  async startService(service: ServiceName): Promise<void> {
    const settings = this.settingsFor(service);
    const child = spawnServer(process.execPath, [...SERVICE_NODE_ARGS, ...(this.options.nodeArgs?.[service] ?? []), join(PROJECT_ROOT, 'dist', 'services', service, 'src', 'main.js')], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...settings },
      logFile: this.logFile(service),
    });
    this.processes.set(service, child);
    // waitFor retries on a probe's error, so a service that exits at once is raced, not probed, to fail without the timeout.
    const exitedFirst = child.exited.then(({ code, signal }) => {
      throw new Error(`${service} exited before it was ready (${signal ? `signal ${signal}` : `code ${code}`}; log: ${this.logFile(service)})`);
    });
    // Once ready it has lost the race, and rejects when the service is stopped at the end: not an unhandled rejection.
    exitedFirst.catch(() => undefined);
    await Promise.race([
      waitFor(`${service} ready (log: ${this.logFile(service)})`, async () => (await fetch(`${this.url(service)}/health/ready`)).ok, { timeoutMs: 90_000, intervalMs: 250 }),
      exitedFirst,
    ]);
  }

  private settingsFor(service: ServiceName): Record<string, string> {
    const own: Record<ServiceName, string[]> = {
      identity: ['JWT_SIGNING_KEY', 'JWT_KEY_ID', 'DEV_SIGN_IN_ENABLED'],
      invitations: ['PORTAL_BASE_URL', 'INVITATIONS_HISTORY_FLOORS'],
      enrollment: [],
      'payout-profiles': ['PAYOUT_ENCRYPTION_KEYS', 'PAYOUT_ENCRYPTION_ACTIVE_KEY_ID'],
      notification: ['SMTP_URL', 'NOTIFY_BACKOFF_MS', 'PORTAL_BASE_URL'],
    };
    const common = ['KAFKA_BROKERS', 'MONGO_URL', 'JWT_ISSUER', 'JWKS_URL', 'OPERATOR_TOKEN', 'LOG_LEVEL', 'KAFKA_RETRY_BACKOFF_MS', 'OUTBOX_RELAY_INTERVAL_MS', 'OUTBOX_SWEEP_INTERVAL_MS'];
    return {
      ...Object.fromEntries([...common, ...own[service]].map((name) => [name, this.env[name]])),
      PORT: String(this.ports.get(service)),
      MONGO_DB: this.database(service),
      KAFKA_GROUP_ID: this.groupId(service),
      ...this.options.env?.[service],
    };
  }

  /** kill -9 (or a graceful SIGTERM), and wait until the process is gone. */
  async kill(service: ServiceName, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.processes.get(service);
    if (!child) return;
    child.child.kill(signal);
    await child.exited;
    this.processes.delete(service);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.processes.values()].map((p) => p.stop(20_000)));
    this.processes.clear();
    await this.smtp.stop();
  }
}
