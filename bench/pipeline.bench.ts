/**
 * `npm run bench`: the event pipeline of the whole platform, measured end to end against this machine's ceilings.
 *
 * The five services run as processes from the production build (the e2e `Platform` harness) on real Kafka and
 * MongoDB (resolveInfra: KAFKA_BROKERS / MONGO_URL, else testcontainers, else servers provisioned locally) with a
 * real SMTP server. Data is seeded through the real HTTP APIs (or identity events, BENCH_SEED=events). Then:
 *  1. Burst: N eligibility decisions for N locations (each with its own Incentives admin) published at once on
 *     eligibility.decisions.v1; the clock stops when the SMTP server has accepted the last invitation email.
 *     Latency per decision = SMTP arrival of that admin's email - the moment its decision was sent to Kafka.
 *  2. Steady: decisions at a fixed rate (BENCH_STEADY_RATE, 100/s) for BENCH_STEADY_SECONDS (60 s): latency
 *     p50/p99, the consumer lag of invitations and notification after the load stops (kafkajs admin: committed
 *     offsets vs topic ends), and each service's RSS sampled every 2 s (is memory flat?).
 *  3. Enroll API: Enroll + Submit from BENCH_ENROLL_CONNECTIONS (50) concurrent clients (autocannon), after
 *     BENCH_ENROLL_WARMUP_SECONDS (3) of the same load on another program.
 *  4. The ceilings (bench/infra-ceilings.ts, measured in this run before the platform starts, plus the SMTP
 *     server's own acceptance rate) and each figure's ratio to the ceiling that bounds it.
 * Every figure is the median of BENCH_RUNS runs (3). BENCH_SCALE (1) scales the sizes for a quick run
 * (0.1: 1,000 decisions, 6 s of steady load). BENCH_PHASES=burst,steady,enroll picks phases.
 * The last line printed is one JSON object with every figure.
 */
import { ALL_TOPICS, createEnvelope, fiscalYearOf, Topics } from '@lib/contracts';
import { OPERATOR_KEY, resolveInfra, SmtpTestServer } from '@lib/testing';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { Admin, Kafka, logLevel, Partitioners, Producer } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { createTransport } from 'nodemailer';
import { deployed } from './deployed';
import { Ceilings, measureCeilings, median } from './infra-ceilings';
import { Platform, SERVICES, ServiceName } from '../test/e2e/platform';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const BURST = Math.max(10, Math.round(Number(process.env.BENCH_BURST ?? 10_000 * SCALE)));
const STEADY_RATE = Number(process.env.BENCH_STEADY_RATE ?? 100);
const STEADY_SECONDS = Math.max(5, Math.round(Number(process.env.BENCH_STEADY_SECONDS ?? 60 * SCALE)));
const ENROLL_CONNECTIONS = Number(process.env.BENCH_ENROLL_CONNECTIONS ?? 50);
const ENROLL_SECONDS = Math.max(3, Math.round(Number(process.env.BENCH_ENROLL_SECONDS ?? 10 * Math.min(1, SCALE * 2))));
/** Locations each Enroll client enrolls in turn in the measured run, and in the warm-up (other locations). */
const ENROLL_LOCATIONS_PER_CLIENT = 40;
const ENROLL_WARMUP_LOCATIONS_PER_CLIENT = 10;
/** Seconds of Enroll + Submit on another program before the measured run (0: none). */
const ENROLL_WARMUP_SECONDS = Number(process.env.BENCH_ENROLL_WARMUP_SECONDS ?? 3);
/** Print each Enroll run's answers per half second (BENCH_ENROLL_TIMELINE=1). */
const ENROLL_TIMELINE = process.env.BENCH_ENROLL_TIMELINE === '1';
const PHASES = new Set((process.env.BENCH_PHASES ?? 'burst,steady,enroll').split(','));
const SEED = process.env.BENCH_SEED ?? 'http';
/** How long one burst may take before it is reported as incomplete. */
const BURST_TIMEOUT_MS = Number(process.env.BENCH_BURST_TIMEOUT_MS ?? Math.max(120_000, BURST * 60));
/** Locations per partner (identity accepts at most 500 in one registration). */
const LOCATIONS_PER_PARTNER = 500;
/** Tomorrow's fiscal year: Enroll refuses a year that is over, and a run across June 30 still enrolls. */
const FISCAL_YEAR = fiscalYearOf(new Date(Date.now() + 86_400_000));

/**
 * Writes one decision costs in the whole pipeline, counting each document a write touches (a bulkWrite of k
 * updates counts k), as the code stands after the performance work (before it: 11, with the same documents; 12 since notification records
 * whom each event was told):
 *  invitations: eligibility view upsert, invitation insert (with its InvitationIssued in the outbox), relay
 *    removal of the published entry, ledger entry                                                        = 4
 *  notification: EMAIL + INBOX message inserts (NotificationSent of the inbox entry in its outbox), the record
 *    of whom the event was told (planned_events), relay removal, ledger entry, the email's claim (lease), the
 *    SENT write (NotificationSent in its outbox), relay removal                                          = 8
 * The single-document upsert ceiling divided by this is the throughput the pipeline would reach if every
 * write were a sequential round trip and nothing else cost anything: the bound the issue compares against.
 */
const WRITES_PER_DECISION = 12;
/**
 * Kafka messages produced per decision: the decision itself, InvitationIssued, NotificationSent (INBOX),
 * NotificationSent (EMAIL). The produce ceiling divided by this bounds throughput from the broker's side.
 */
const MESSAGES_PER_DECISION = 4;
/**
 * Sequential database round trips on one decision's critical path (consume -> email accepted), reads included:
 *  invitations: ledger read, view upsert, invitation read, decision/enrollment/program reads (2 in parallel +1),
 *    holders read, insert, ledger write, relay read + removal                                          ~ 10
 *  notification: ledger read, recipients read, existing-ids read, insert, ledger write, claim, deactivated
 *    read, SENT write                                                                                     ~ 8
 * The latency floor of one decision is this many single-upsert times (its two Kafka hops not counted); p50 is compared to it.
 */
const ROUND_TRIPS_ON_PATH = 18;

const cores = () => cpus().length;
const log = (line: string) => void process.stdout.write(`${line}\n`);

/**
 * Enroll answers per half second (count, p50, p99, max, statuses), and what each process spent of the CPU in that half
 * second (percent of one core): where in the run the slow ones are, and what ran beside them.
 */
function logTimeline(label: string, answers: Array<{ at: number; ms: number; status: number }>, cpu: Array<Record<string, number>> = []): void {
  const slices = new Map<number, Array<{ ms: number; status: number }>>();
  for (const a of answers) {
    const slice = Math.floor(a.at / 500);
    const list = slices.get(slice);
    if (list) list.push(a);
    else slices.set(slice, [a]);
  }
  for (const [slice, list] of [...slices].sort((x, y) => x[0] - y[0])) {
    const ms = list.map((a) => a.ms).sort((x, y) => x - y);
    const at = (q: number) => Math.round(ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]);
    const statuses: Record<number, number> = {};
    for (const a of list) statuses[a.status] = (statuses[a.status] ?? 0) + 1;
    const [from, to] = [cpu[slice], cpu[slice + 1]];
    const busy = from && to ? Object.keys(to).map((k) => `${k} ${Math.round((to[k] - from[k]) * 200)}`).join(', ') : '';
    log(`  ${label} +${(slice / 2).toFixed(1)} s: ${list.length} answers, p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms ${JSON.stringify(statuses)}${busy && `; CPU %: ${busy}`}`);
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** What a phase did not finish (a timeout, missing emails, a lag that stayed): listed at the end, and exit code 1. */
const problems: string[] = [];
const incomplete = (problem: string) => {
  problems.push(problem);
  log(`INCOMPLETE ${problem}`);
};
const round1 = (n: number) => Math.round(n * 10) / 10;
/** RSS samples (every 2 s under the steady load) below which memory is not judged flat or growing. */
const MIN_MEMORY_SAMPLES = 15;
const percentile = (values: number[], p: number): number => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
};

/**
 * How each service runs: as deployed (deploy/k8s: its NODE_OPTIONS, the heap limit, and its LOG_LEVEL), unless
 * BENCH_NODE_ARGS_<SERVICE> or BENCH_LOG_LEVEL say otherwise. Read once.
 */
const RUN_AS = Object.fromEntries(
  SERVICES.map((s) => {
    const asDeployed = deployed(s);
    const nodeArgs = process.env[`BENCH_NODE_ARGS_${s.toUpperCase().replace(/-/g, '_')}`]?.split(' ').filter(Boolean) ?? asDeployed.nodeOptions;
    return [s, { nodeArgs, logLevel: process.env.BENCH_LOG_LEVEL ?? asDeployed.logLevel ?? 'info' }];
  }),
) as Record<ServiceName, { nodeArgs: string[]; logLevel: string }>;

interface Admin1 {
  partnerId: string;
  locationId: string;
  userId: string;
  email: string;
}

/* ------------------------------------------------------------------------------------------------ HTTP */

async function call<T = any>(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url} -> ${response.status}: ${text.slice(0, 500)}`);
  return text ? JSON.parse(text) : (undefined as T);
}

async function pool<T>(items: T[], width: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i], i);
      }
    }),
  );
}

/* ------------------------------------------------------------------------------------------------ Kafka */

class Broker {
  readonly kafka: Kafka;
  admin!: Admin;
  producer!: Producer;

  constructor(brokers: string[]) {
    this.kafka = new Kafka({ clientId: `bench-${randomUUID().slice(0, 8)}`, brokers, logLevel: logLevel.NOTHING });
  }

  async connect(): Promise<void> {
    this.admin = this.kafka.admin();
    await this.admin.connect();
    this.producer = this.kafka.producer({ allowAutoTopicCreation: true, createPartitioner: Partitioners.DefaultPartitioner });
    await this.producer.connect();
  }

  async publish(topic: string, messages: Array<{ key: string; value: string }>): Promise<void> {
    await this.producer.send({ topic, acks: -1, messages });
  }

  /** Creates the topics on a fresh broker and waits until each partition has a leader that answers offsets. */
  async topicsReady(topics: string[]): Promise<void> {
    const existing = new Set(await this.admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length) {
      await this.admin.createTopics({ waitForLeaders: true, topics: missing.map((topic) => ({ topic, numPartitions: 6 })) }).catch(() => undefined);
    }
    for (const topic of topics) {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.admin.fetchTopicOffsets(topic);
          break;
        } catch (error) {
          if (attempt > 100) throw error;
          await sleep(200);
        }
      }
    }
  }

  async endOffsetsSum(topic: string): Promise<number> {
    return (await this.admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  }

  /** Messages on `topics` not yet committed by the group. */
  async lag(groupId: string, topics: string[]): Promise<number> {
    const committed = await this.admin.fetchOffsets({ groupId, topics });
    let total = 0;
    for (const { topic, partitions } of committed) {
      const ends = await this.admin.fetchTopicOffsets(topic);
      for (const p of partitions) {
        const end = ends.find((e) => e.partition === p.partition)!;
        const offset = Number(p.offset);
        total += Number(end.high) - (offset < 0 ? Number(end.low) : offset);
      }
    }
    return total;
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
  }
}

/* ------------------------------------------------------------------------------------------------ memory */

function procStatus(pid: number | undefined): { rssMb: number; hwmMb: number } {
  if (!pid) return { rssMb: NaN, hwmMb: NaN };
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMb: round1(kb('VmRSS') / 1024), hwmMb: round1(kb('VmHWM') / 1024) };
  } catch {
    return { rssMb: NaN, hwmMb: NaN };
  }
}

/** CPU seconds used so far by a process (user + system), from /proc/<pid>/stat. */
function processCpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Busy CPU seconds of the whole machine so far (every core, every process: Kafka, MongoDB, other users). */
function machineBusySeconds(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = ticks;
  return (user + nice + system + irq + softirq + steal) / 100;
}

/** The pids of the local Kafka broker and MongoDB-compatible server (java processes), for the Enroll timeline. */
function infraPids(): Record<string, number> {
  const found: Record<string, number> = {};
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('kafka.Kafka')) found.kafka = Number(entry);
      else if (cmdline.includes('mongo-java-server')) found.mongo = Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** CPU seconds so far of each service, the local servers, this process (the load generator) and the machine. */
function cpuSample(platform: Platform, infra: Record<string, number> = {}): Record<string, number> {
  const sample: Record<string, number> = Object.fromEntries(SERVICES.map((s) => [s, processCpuSeconds(platform.pid(s))]));
  for (const [name, pid] of Object.entries(infra)) sample[name] = processCpuSeconds(pid);
  sample.bench = processCpuSeconds(process.pid);
  sample.machine = machineBusySeconds();
  return sample;
}

/** CPU milliseconds per decision of each service, the benchmark's own process and the machine between two samples. */
class CpuMeter {
  private start = new Map<string, number>();

  constructor(private readonly platform: Platform) {}

  begin(): void {
    this.start = this.sample();
  }

  perDecision(decisions: number): Record<string, number> {
    const end = this.sample();
    return Object.fromEntries([...end].map(([k, v]) => [k, Math.round(((v - this.start.get(k)!) * 1000 * 100) / decisions) / 100]));
  }

  private sample(): Map<string, number> {
    return new Map(Object.entries(cpuSample(this.platform)));
  }
}

/**
 * Each service's event-loop delay since the last reading (prom-client's default metrics, which reset their histogram
 * on every scrape of /metrics): how long a ready request could wait behind work on the service's own thread.
 */
async function eventLoopDelays(platform: Platform): Promise<Record<string, { p99Ms: number; maxMs: number }>> {
  const read = async (service: ServiceName) => {
    const text = await fetch(`${platform.url(service)}/metrics`).then((r) => (r.ok ? r.text() : ''), () => '');
    const value = (name: string) => Math.round(Number(new RegExp(`^${name}\\{[^}]*\\} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN) * 1000);
    return [service, { p99Ms: value('nodejs_eventloop_lag_p99_seconds'), maxMs: value('nodejs_eventloop_lag_max_seconds') }] as const;
  };
  return Object.fromEntries(await Promise.all(SERVICES.map(read)));
}

class RssSampler {
  readonly samples = new Map<ServiceName, number[]>(SERVICES.map((s) => [s, []]));
  private timer?: NodeJS.Timeout;

  constructor(private readonly platform: Platform) {}

  /**
   * Every `everyMs` from now until `pause` (each steady run's load and its drain: the settling between runs, idle for
   * minutes, would dilute growth under load and mix the bursts' leftover heap into the first half).
   */
  resume(everyMs = 2_000): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): void {
    for (const service of SERVICES) this.samples.get(service)!.push(procStatus(this.platform.pid(service)).rssMb);
  }

  pause(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

/* ------------------------------------------------------------------------------------------------ the bench */

class PipelineBench {
  private readonly tag = randomBytes(3).toString('hex');
  readonly platform: Platform;
  private broker!: Broker;
  private admins: Admin1[] = [];
  /** email -> when its decision was sent, for the phase being measured. */
  private expected = new Map<string, number>();
  private latencies: number[] = [];
  /** When each measured decision was sent, in the order of `latencies`. */
  private sentTimes: number[] = [];
  private lastArrival = 0;

  constructor() {
    this.platform = new Platform({
      parseMail: false,
      // Each service with the node options it is deployed with (deploy/k8s: the heap limit), unless
      // BENCH_NODE_ARGS_<SERVICE> says otherwise: BENCH_NODE_ARGS_NOTIFICATION="--max-old-space-size=512 --cpu-prof
      // --cpu-prof-dir=/tmp/prof" profiles one service.
      nodeArgs: Object.fromEntries(SERVICES.map((s) => [s, RUN_AS[s].nodeArgs])),
      env: Object.fromEntries(
        // Production defaults where the e2e harness shortens them for tests (the relay's poll is a scan), and the log
        // level each is deployed with (info: a line per HTTP request), unless BENCH_LOG_LEVEL.
        SERVICES.map((s) => [s, { LOG_LEVEL: RUN_AS[s].logLevel, OUTBOX_RELAY_INTERVAL_MS: '1000', OUTBOX_SWEEP_INTERVAL_MS: '10000', ...serviceEnv(s) }]),
      ) as never,
    });
    this.platform.smtp.arrivals.push(({ to, receivedAt }) => {
      for (const address of to) {
        const sentAt = this.expected.get(address);
        if (sentAt === undefined) continue;
        this.expected.delete(address);
        this.latencies.push(receivedAt - sentAt);
        this.sentTimes.push(sentAt);
        this.lastArrival = receivedAt;
      }
    });
  }

  async start(brokers: string[]): Promise<void> {
    const t = Date.now();
    this.broker = new Broker(brokers);
    await this.broker.connect();
    await this.broker.topicsReady([...ALL_TOPICS, ...ALL_TOPICS.map((topic) => `${topic}.dlq`)]);
    await this.platform.start();
    log(`pids: ${SERVICES.map((s) => `${s}=${this.platform.pid(s)}`).join(' ')}`);
    log(`platform ready in ${((Date.now() - t) / 1000).toFixed(1)} s; logs: ${this.platform.logFile('invitations')} (and siblings)`);
  }

  async stop(): Promise<void> {
    await this.broker?.close();
    await this.platform.stop();
  }

  peakRss(): Record<ServiceName, number> {
    return Object.fromEntries(SERVICES.map((s) => [s, procStatus(this.platform.pid(s)).hwmMb])) as Record<ServiceName, number>;
  }

  /* ---------------------------------------------------------------------------------------------- seeding */

  /** Partners with `count` locations, each location with its own Incentives admin. */
  async seed(count: number): Promise<{ seconds: number; rolesPerSecond: number; via: string }> {
    const partners = Math.ceil(count / LOCATIONS_PER_PARTNER);
    const identityBefore = await this.broker.endOffsetsSum(Topics.identity);
    const t0 = Date.now();
    let expectedEvents: number;
    let rolesPerSecond = NaN;
    if (SEED === 'events') {
      expectedEvents = await this.seedByEvents(partners, count);
    } else {
      const result = await this.seedByHttp(partners, count);
      expectedEvents = result.events;
      rolesPerSecond = result.rolesPerSecond;
    }
    // The services consume identity events into their access views: wait until both have everything.
    await this.waitFor('identity events published', async () => (await this.broker.endOffsetsSum(Topics.identity)) - identityBefore >= expectedEvents, 600_000);
    await this.waitForLag(['invitations', 'notification', ...(await this.consumes('enrollment', Topics.identity))], [Topics.identity], 600_000);
    const seconds = (Date.now() - t0) / 1000;
    log(`seeded ${partners} partners, ${count} locations and Incentives admins via ${SEED} in ${seconds.toFixed(1)} s`);
    return { seconds, rolesPerSecond, via: SEED };
  }

  private async seedByHttp(partners: number, count: number): Promise<{ events: number; rolesPerSecond: number }> {
    const identity = this.platform.url('identity');
    const jobs: Array<{ token: () => Promise<string>; admin: Admin1 }> = [];
    let events = 0;
    for (let p = 0; p < partners; p++) {
      const partnerId = `bench-${this.tag}-p${p}`;
      const locations = Array.from({ length: Math.min(LOCATIONS_PER_PARTNER, count - p * LOCATIONS_PER_PARTNER) }, (_, i) => ({
        locationId: `bench-${this.tag}-p${p}-l${i}`,
        country: 'DE',
        legalName: `Bench ${p}/${i} GmbH`,
      }));
      const globalAdmin = { email: `ga-${p}-${this.tag}@bench.example`, displayName: `Global admin ${p}` };
      await call('POST', `${identity}/v1/partners`, { partnerId, name: `Bench partner ${p}`, locations, globalAdmin }, { 'x-operator-key': OPERATOR_KEY });
      let cached: { token: string; until: number } | undefined;
      const token = async () => {
        if (!cached || cached.until < Date.now()) {
          const { accessToken, expiresIn } = await call('POST', `${identity}/v1/dev/sign-in`, { email: globalAdmin.email });
          cached = { token: accessToken, until: Date.now() + (expiresIn - 60) * 1000 };
        }
        return cached.token;
      };
      // SCIM import: every admin of this partner in one request.
      const resources = locations.map((l) => ({
        externalId: `x-${l.locationId}`,
        userName: `admin-${l.locationId}@bench.example`,
        displayName: `Admin ${l.locationId}`,
        emails: [{ value: `admin-${l.locationId}@bench.example`, primary: true }],
        active: true,
      }));
      const report = await call<{ results: Array<{ index: number; userId: string; email: string; outcome: string }> }>(
        'POST',
        `${identity}/v1/users/import`,
        { schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: resources.length, Resources: resources },
        { authorization: `Bearer ${await token()}` },
      );
      for (const r of report.results) {
        if (r.outcome !== 'created') throw new Error(`import: ${JSON.stringify(r)}`);
        jobs.push({ token, admin: { partnerId, locationId: locations[r.index].locationId, userId: r.userId, email: r.email.toLowerCase() } });
      }
      events += 1 + 1 + locations.length * 2; // PartnerRegistered, the Global admin, UserCreated and RoleAssigned per admin
    }
    const t = Date.now();
    await pool(jobs, 16, async ({ token, admin }) => {
      await call('POST', `${this.platform.url('identity')}/v1/users/${admin.userId}/roles`, { role: 'INCENTIVES_ADMIN', locationIds: [admin.locationId] }, { authorization: `Bearer ${await token()}` });
    });
    const rolesPerSecond = jobs.length / ((Date.now() - t) / 1000);
    log(`role assignments over HTTP: ${jobs.length} at ${Math.round(rolesPerSecond)}/s`);
    this.admins = jobs.map((j) => j.admin);
    return { events, rolesPerSecond };
  }

  /** The identity events the services consume, with full user snapshots, published directly (BENCH_SEED=events). */
  private async seedByEvents(partners: number, count: number): Promise<number> {
    let events = 0;
    for (let p = 0; p < partners; p++) {
      const partnerId = `bench-${this.tag}-p${p}`;
      const locations = Array.from({ length: Math.min(LOCATIONS_PER_PARTNER, count - p * LOCATIONS_PER_PARTNER) }, (_, i) => ({
        locationId: `bench-${this.tag}-p${p}-l${i}`,
        country: 'DE',
        legalName: `Bench ${p}/${i} GmbH`,
      }));
      const messages = [envelopeMessage(Topics.identity, partnerId, 'PartnerRegistered', { partnerId, name: `Bench partner ${p}`, locations })];
      for (const l of locations) {
        const admin = { partnerId, locationId: l.locationId, userId: `u-${l.locationId}`, email: `admin-${l.locationId}@bench.example` };
        this.admins.push(admin);
        const user = { userId: admin.userId, partnerId, email: admin.email, displayName: `Admin ${l.locationId}`, active: true, roles: [{ role: 'INCENTIVES_ADMIN', locationIds: [l.locationId] }], revision: 1 };
        messages.push(envelopeMessage(Topics.identity, partnerId, 'UserCreated', { user }));
      }
      for (let i = 0; i < messages.length; i += 500) await this.broker.publish(Topics.identity, messages.slice(i, i + 500));
      events += messages.length;
    }
    return events;
  }

  /** A program through enrollment's operator API when it has one, else ProgramCreated on programs.events.v1. */
  async createProgram(name: string): Promise<string> {
    await this.markPrograms();
    const programId = `bench-${this.tag}-${name}`;
    const program = {
      programId,
      name: `Bench ${name}`,
      fiscalYear: FISCAL_YEAR,
      requiresEligibility: true,
      payoutRules: { allowedCurrencies: ['USD', 'EUR'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER'], taxProfileRequired: false },
      state: 'OPEN',
      revision: 1,
    };
    const { state: _state, revision: _revision, ...body } = program;
    void _state;
    void _revision;
    const created = await fetch(`${this.platform.url('enrollment')}/v1/programs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-operator-key': OPERATOR_KEY },
      body: JSON.stringify({ ...body, requiresEligibility: name.startsWith('enroll') ? false : true }),
    }).catch(() => undefined);
    if (created?.status === 201) {
      if (!this.programVia) log('programs: created through the enrollment operator API (POST /v1/programs)');
      this.programVia = 'enrollment API';
    } else {
      if (!this.programVia) log(`programs: enrollment API answered ${created?.status}; publishing ProgramCreated on ${Topics.programs}`);
      this.programVia = 'ProgramCreated event';
      await this.broker.publish(Topics.programs, [envelopeMessage(Topics.programs, programId, 'ProgramCreated', { program })]);
    }
    await this.waitFor('ProgramCreated published', () => this.programSeen(programId), 30_000);
    await this.waitForLag(['invitations', 'enrollment'], [Topics.programs], 60_000);
    return programId;
  }

  programVia?: string;

  /** True once the program's event reached the topic (the relay of enrollment publishes it shortly after the call). */
  private async programSeen(programId: string): Promise<boolean> {
    void programId;
    return (await this.broker.endOffsetsSum(Topics.programs)) > this.programsEnd;
  }

  private programsEnd = 0;

  async markPrograms(): Promise<void> {
    this.programsEnd = await this.broker.endOffsetsSum(Topics.programs);
  }

  /* ---------------------------------------------------------------------------------------------- phases */

  private decisions(programId: string, admins: Admin1[]): Array<{ email: string; message: { key: string; value: string } }> {
    return admins.map((a) => ({
      email: a.email,
      message: envelopeMessage(Topics.eligibility, a.locationId, 'EligibilityDetermined', {
        programId,
        locationId: a.locationId,
        partnerId: a.partnerId,
        fiscalYear: FISCAL_YEAR,
        eligible: true,
        reasons: [],
      }, 'eligibility-bench'),
    }));
  }

  private beginMeasure(): void {
    this.expected = new Map();
    this.latencies = [];
    this.sentTimes = [];
    this.lastArrival = 0;
  }

  async burst(run: number): Promise<{ decisionsPerSecond: number; p50: number; p99: number; seconds: number; delivered: number; sent: number; cpuMsPerDecision: Record<string, number> }> {
    const programId = await this.createProgram(`burst${run}`);
    // On a quiet platform, as every phase: the run before left minutes of work behind it (and the program is known).
    await this.settle();
    const decisions = this.decisions(programId, this.admins.slice(0, BURST));
    this.beginMeasure();
    const cpu = new CpuMeter(this.platform);
    cpu.begin();
    const t0 = Date.now();
    for (let i = 0; i < decisions.length; i += 1_000) {
      const chunk = decisions.slice(i, i + 1_000);
      // Latency from the burst's start, as all of them are published at once: a later chunk's wait to be produced counts.
      for (const d of chunk) this.expected.set(d.email, t0);
      await this.broker.publish(Topics.eligibility, chunk.map((d) => d.message));
    }
    const published = Date.now();
    const done = await this.until(() => this.latencies.length >= decisions.length, BURST_TIMEOUT_MS);
    const end = done ? this.lastArrival : Date.now();
    const seconds = (end - t0) / 1000;
    const result = {
      decisionsPerSecond: Math.round(this.latencies.length / seconds),
      p50: percentile(this.latencies, 50),
      p99: percentile(this.latencies, 99),
      seconds: round1(seconds),
      delivered: this.latencies.length,
      sent: decisions.length,
      cpuMsPerDecision: cpu.perDecision(this.latencies.length || 1),
    };
    if (!done) incomplete(`burst ${run}: ${result.delivered} of ${decisions.length} emails within ${BURST_TIMEOUT_MS / 1000} s`);
    log(
      `burst ${run}: ${result.delivered}/${decisions.length} emails in ${result.seconds} s (published in ${((published - t0) / 1000).toFixed(1)} s)` +
        ` -> ${result.decisionsPerSecond} decisions/s, p50 ${result.p50} ms, p99 ${result.p99} ms${done ? '' : ' (TIMED OUT)'}` +
        `; CPU ms per decision: ${JSON.stringify(result.cpuMsPerDecision)}`,
    );
    // Each consumer on the topic it reads (a group on a topic it does not read has no offsets: never caught up).
    await Promise.all([
      this.waitForLag(['invitations'], [Topics.eligibility], 120_000),
      this.waitForLag(['notification'], [Topics.invitations], 120_000),
    ]).catch((error) =>
      incomplete(`burst ${run}: the consumers still behind 2 min after (the next phase starts on a backlog): ${error}`),
    );
    return result;
  }

  async steady(
    run: number,
    sampler: RssSampler,
  ): Promise<{ p50: number; p99: number; lagDrainSeconds: number; emailDrainSeconds: number; delivered: number; sent: number; achievedRate: number }> {
    const programId = await this.createProgram(`steady${run}`);
    await this.settle();
    const total = STEADY_RATE * STEADY_SECONDS;
    const decisions = this.decisions(programId, this.admins.slice(0, total));
    this.beginMeasure();
    const tickMs = 100;
    const perTick = (STEADY_RATE * tickMs) / 1000;
    const t0 = Date.now();
    sampler.resume();
    let sent = 0;
    for (let tick = 0; sent < decisions.length; tick++) {
      const due = t0 + tick * tickMs;
      if (due > Date.now()) await sleep(due - Date.now());
      const upTo = Math.min(decisions.length, Math.round((tick + 1) * perTick));
      const chunk = decisions.slice(sent, upTo);
      sent = upTo;
      // Latency from when the decision was due: a publisher fallen behind (a produce stall) counts its delay, not
      // hides it (coordinated omission).
      for (const d of chunk) this.expected.set(d.email, due);
      if (chunk.length) await this.broker.publish(Topics.eligibility, chunk.map((d) => d.message));
    }
    const stopped = Date.now();
    const achievedRate = Math.round(decisions.length / ((stopped - t0) / 1000));
    if (achievedRate < STEADY_RATE * 0.95) incomplete(`steady ${run}: published ${achievedRate}/s of the ${STEADY_RATE}/s asked (the publisher fell behind)`);
    const lagDrainSeconds = await this.lagDrain(stopped, 60_000);
    if (Number.isNaN(lagDrainSeconds)) incomplete(`steady ${run}: the consumers' lag not back to zero within 60 s after the load`);
    if (!(await this.until(() => this.latencies.length >= decisions.length, 60_000))) {
      incomplete(`steady ${run}: ${this.latencies.length} of ${decisions.length} emails within 60 s after the load (p50/p99 are of those only)`);
    }
    sampler.pause();
    const emailDrainSeconds = this.lastArrival ? Math.max(0, (this.lastArrival - stopped) / 1000) : NaN;
    const result = {
      p50: percentile(this.latencies, 50),
      p99: percentile(this.latencies, 99),
      lagDrainSeconds: round1(lagDrainSeconds),
      emailDrainSeconds: round1(emailDrainSeconds),
      delivered: this.latencies.length,
      sent: decisions.length,
      achievedRate,
    };
    log(
      `steady ${run}: ${STEADY_RATE}/s (${achievedRate}/s achieved) for ${((stopped - t0) / 1000).toFixed(1)} s, ${result.delivered}/${result.sent} emails, p50 ${result.p50} ms,` +
        ` p99 ${result.p99} ms, lag back to zero ${result.lagDrainSeconds} s after the load stopped (last email +${result.emailDrainSeconds} s)`,
    );
    // Where the slow ones are: p50/p99 of the decisions sent in each 10 s of the run (a slow start, or a periodic stall).
    const windows = new Map<number, number[]>();
    this.sentTimes.forEach((at, i) => {
      const w = Math.floor((at - t0) / 10_000);
      if (!windows.has(w)) windows.set(w, []);
      windows.get(w)!.push(this.latencies[i]);
    });
    log(
      `  p50/p99 ms per 10 s sent: ${[...windows].sort(([a], [b]) => a - b).map(([w, xs]) => `${w * 10}s ${percentile(xs, 50)}/${percentile(xs, 99)}`).join(', ')}`,
    );
    return result;
  }

  /**
   * Seconds from `since` until every consumer of the load's topics has no lag: the decisions (invitations, enrollment),
   * the invitation events (notification, enrollment) and the enrollment events they cause (invitations, notification).
   */
  private async lagDrain(since: number, timeoutMs: number): Promise<number> {
    const deadline = since + timeoutMs;
    const consumers: Array<[ServiceName, string]> = [
      ['invitations', Topics.eligibility],
      ['enrollment', Topics.eligibility],
      ['notification', Topics.invitations],
      ['enrollment', Topics.invitations],
      ['invitations', Topics.enrollments],
      ['notification', Topics.enrollments],
    ];
    let behind: string[] = [];
    while (Date.now() < deadline) {
      const lags = await Promise.all(consumers.map(([service, topic]) => this.broker.lag(this.platform.groupFor(service, topic), [topic])));
      behind = consumers.flatMap(([service, topic], i) => (lags[i] > 0 ? [`${service} on ${topic}: ${lags[i]}`] : []));
      if (behind.length === 0) return (Date.now() - since) / 1000;
      await sleep(100);
    }
    log(`  still behind ${timeoutMs / 1000} s after the load: ${behind.join(', ')}`);
    return NaN;
  }

  /** Enroll + Submit over HTTP from concurrent clients; null when the enrollment API is not there yet. */
  async enroll(run: number): ReturnType<typeof enrollPhase> {
    await this.settle();
    return enrollPhase(this.platform, this.admins, (name) => this.createProgram(name), run, new CpuMeter(this.platform), () => this.settle());
  }

  /* ---------------------------------------------------------------------------------------------- waiting */

  private async until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) return false;
      await sleep(20);
    }
    return true;
  }

  private async waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await probe())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(200);
    }
  }

  /** [service] when its consumer group reads the topic (a member is assigned it), else []. */
  async consumes(service: ServiceName, topic: string): Promise<ServiceName[]> {
    const groups = await this.broker.admin.describeGroups([this.platform.groupFor(service, topic)]);
    const member = groups.groups[0]?.members[0];
    if (!member) return [];
    const assignment = member.memberAssignment.toString('latin1');
    return assignment.includes(topic) ? [service] : [];
  }

  /**
   * Waits until every service's consumer group has caught up on every topic it consumes, so that a phase starts on
   * a quiet platform: a burst leaves minutes of work behind it (enrollment records 20,000 invitation events, the
   * relays publish the notification events), and a steady run started on top of it measured that backlog in its
   * first 10 s (p50 746 ms there, 80 ms after). Then waits for the machine to be quiet. Returns the seconds it waited.
   */
  async settle(timeoutMs = 300_000): Promise<number> {
    const t0 = Date.now();
    const plan = await Promise.all(
      SERVICES.map(async (service) => ({
        service,
        topics: (await Promise.all(ALL_TOPICS.map(async (topic) => ((await this.consumes(service, topic)).length ? topic : null)))).filter(
          (topic): topic is (typeof ALL_TOPICS)[number] => topic !== null,
        ),
      })),
    );
    await this.waitFor('every service to catch up on what it consumes', async () => {
      for (const { service, topics } of plan) {
        for (const topic of topics) if ((await this.broker.lag(this.platform.groupFor(service, topic), [topic])) > 0) return false;
      }
      return true;
    }, timeoutMs).catch((error) => log(`settle: ${(error as Error).message}; going on`));
    // Caught up is not idle: the relays may still be publishing what the burst's last writes left in outboxes, and
    // the servers collecting garbage. Quiet = the whole machine below a quarter of one core for 2 s.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const before = machineBusySeconds();
      await sleep(2_000);
      const busyCores = (machineBusySeconds() - before) / 2;
      if (busyCores < 0.25 || Date.now() > deadline) break;
    }
    const seconds = round1((Date.now() - t0) / 1000);
    log(`settled: every consumer group caught up and the machine quiet after ${seconds} s`);
    return seconds;
  }

  async waitForLag(services: ServiceName[], topics: string[], timeoutMs: number): Promise<void> {
    await this.waitFor(`${services.join(', ')} to catch up on ${topics.join(', ')}`, async () => {
      for (const s of services) for (const topic of topics) if ((await this.broker.lag(this.platform.groupFor(s, topic), [topic])) > 0) return false;
      return true;
    }, timeoutMs);
  }
}

function serviceEnv(service: ServiceName): Record<string, string> {
  // Per-service overrides for experiments, e.g. BENCH_ENV_NOTIFICATION='{"NOTIFY_CONCURRENCY":"8"}'.
  const raw = process.env[`BENCH_ENV_${service.toUpperCase().replace(/-/g, '_')}`];
  return raw ? JSON.parse(raw) : {};
}

function envelopeMessage(topic: string, key: string, type: string, data: object, source = 'bench'): { key: string; value: string } {
  void topic;
  const d = data as { partnerId?: string; locationId?: string };
  return { key, value: JSON.stringify(createEnvelope({ type, data, source, partnerId: d.partnerId, locationId: d.locationId })) };
}

/* ------------------------------------------------------------------------------------------------ Enroll API */

/**
 * The writes the enrollment service made to a program's enrollments on the requests' path: each insert starts a
 * document at version 1 and each update adds one, so the sum of their versions counts them (the calls send no
 * Idempotency-Key: no records). A Submit the payout rules refuse (422) and an Enroll finding its enrollment as it was
 * write nothing. Not counted: the outbox relay's removal of each written document's published events, one more write
 * per written document, after the answer (off the requests' path, on the same database).
 */
async function enrollmentWrites(platform: Platform, programId: string): Promise<number> {
  const client = await MongoClient.connect(process.env.MONGO_URL!);
  try {
    const [row] = await client
      .db(platform.database('enrollment'))
      .collection('enrollments')
      .aggregate<{ writes: number }>([{ $match: { programId } }, { $group: { _id: null, writes: { $sum: '$version' } } }])
      .toArray();
    return row?.writes ?? 0;
  } finally {
    await client.close();
  }
}

/**
 * Enroll (POST /v1/enrollments) then Submit (POST /v1/enrollments/:id/submit), each connection as the Incentives
 * admin of the next location in its share, in an open program (no eligibility needed). No bank profile is set
 * up, so Enroll answers 201 ACTION_REQUIRED and Submit 422 (payout rules not met): both do the whole work of the
 * call (token, access view, program, profiles view, write or validation). The status codes are reported.
 */
/** The locations whose admin already made an approved bank profile their default (payoutReady): once per bench. */
const payoutReadyLocations = new Set<string>();

/**
 * As each location's Incentives admin does it through payout-profiles: a bank profile serving the location
 * (`POST /v1/bank-profiles`), approved (the operator's validation decision, as the back office's), made the location's
 * default (`PUT /v1/locations/:id/default-bank-profile`). Enrollment learns of them by their events, as always.
 */
async function payoutReady(platform: Platform, admins: Admin1[], tokens: string[]): Promise<boolean> {
  const payout = platform.url('payout-profiles');
  const todo = admins.map((admin, i) => ({ admin, token: tokens[i] })).filter(({ admin }) => !payoutReadyLocations.has(admin.locationId));
  if (!todo.length) return false;
  const t = Date.now();
  await pool(todo, 16, async ({ admin, token }) => {
    const auth = { authorization: `Bearer ${token}` };
    const profile = await call<{ profileId: string; revision: number }>(
      'POST',
      `${payout}/v1/bank-profiles`,
      {
        name: `Bench account ${admin.locationId}`,
        country: 'DE',
        currency: 'EUR',
        paymentMethod: 'ELECTRONIC_BANK_TRANSFER',
        account: { iban: 'DE89 3704 0044 0532 0130 00', bic: 'COBADEFFXXX' },
        beneficiary: { name: 'Bench GmbH', email: admin.email },
        locationIds: [admin.locationId],
      },
      auth,
    );
    await call('POST', `${payout}/v1/operator/profiles/${encodeURIComponent(profile.profileId)}/validation`, { revision: profile.revision, outcome: 'APPROVED' }, { 'x-operator-key': OPERATOR_KEY });
    await call('PUT', `${payout}/v1/locations/${encodeURIComponent(admin.locationId)}/default-bank-profile`, { bankProfileId: profile.profileId, currency: 'EUR' }, auth);
    payoutReadyLocations.add(admin.locationId);
  });
  log(`enroll: ${todo.length} locations given an approved default bank profile through payout-profiles in ${round1((Date.now() - t) / 1000)} s`);
  return true;
}

async function enrollPhase(
  platform: Platform,
  admins: Admin1[],
  createProgram: (name: string) => Promise<string>,
  run: number,
  cpu: CpuMeter,
  settle: () => Promise<unknown>,
): Promise<{
  requestsPerSecond: number;
  p99: number;
  p50: number;
  statuses: Record<string, number>;
  cpuMsPerRequest: Record<string, number>;
  latencyFloorMs: number;
  writesPerRequest: number;
} | null> {
  const docs: any = await fetch(`${platform.url('enrollment')}/docs-json`).then((r) => (r.ok ? r.json() : null)).catch(() => null);
  if (!docs?.paths?.['/v1/enrollments/{enrollmentId}/submit']) return null;
  if (process.env.BENCH_SEED === 'events') {
    // The admins must sign in (identity's dev sign-in), and seeding by events leaves identity without them.
    log('enroll: skipped (BENCH_SEED=events seeds no users in identity, and the admins must sign in)');
    return null;
  }
  const identity = platform.url('identity');
  const measured = admins.slice(0, Math.min(admins.length, ENROLL_CONNECTIONS * ENROLL_LOCATIONS_PER_CLIENT));
  // The warm-up enrolls other locations (when there are), so that the measured run is the same work as without it.
  const spare = admins.slice(measured.length, measured.length + ENROLL_CONNECTIONS * ENROLL_WARMUP_LOCATIONS_PER_CLIENT);
  const signIn = async (list: Admin1[]) => {
    const tokens: string[] = new Array(list.length);
    await pool(list, 16, async (admin, i) => {
      tokens[i] = (await call('POST', `${identity}/v1/dev/sign-in`, { email: admin.email, partnerId: admin.partnerId })).accessToken;
    });
    return tokens;
  };
  const measuredTokens = await signIn(measured);
  const spareTokens = spare.length >= ENROLL_CONNECTIONS ? await signIn(spare) : [];
  // Each location a bank profile its admin made its default, approved: Enroll proposes it (next action SUBMIT) and the
  // Submit goes through to ENROLLED (the profile validated), the whole write path of a Submit with its events.
  // Their events consumed (enrollment's views) before any Enroll.
  if (await payoutReady(platform, [...measured, ...spare], [...measuredTokens, ...spareTokens])) await settle();
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const autocannon = require('autocannon');
  const load = async (programId: string, seconds: number, people: Admin1[], tokens: string[]) => {
    // Each Enroll takes the next location of the run's (autocannon clears a client's context at each Enroll), each once.
    // The calls measured are those of a location's first Enroll and its Submit, each timed from when it was set up to
    // its answer; once every location was taken the clients go on (repeats: 200, the cheap path, not measured) until
    // every measured call has its answer, so that the calls in flight then count too (the slowest, often).
    let next = 0;
    let measuredAnswers = 0;
    let lastAnswerAt = 0;
    const statuses: Record<string, number> = {};
    const startedAt = Date.now();
    const answers: Array<{ at: number; ms: number; status: number }> = [];
    /** The statuses of the measured calls, apart from the repeats' (an Enroll 200 there is the cheap path, not here). */
    const measuredStatuses: Record<string, number> = {};
    const answered = (ctx: Record<string, unknown>, kind: string, status: number) => {
      if (!ctx.first) return;
      measuredStatuses[`${kind} ${status}`] = (measuredStatuses[`${kind} ${status}`] ?? 0) + 1;
      const at = Date.now() - startedAt;
      answers.push({ at, ms: Math.round((performance.now() - (ctx.sentAt as number)) * 10) / 10, status });
      lastAnswerAt = at;
      if (++measuredAnswers >= 2 * people.length) setImmediate(() => instance.stop());
    };
    const instance = autocannon({
      url: platform.url('enrollment'),
      connections: ENROLL_CONNECTIONS,
      duration: seconds,
      requests: [
        {
          method: 'POST',
          path: '/v1/enrollments',
          setupRequest: (req: Record<string, unknown>, ctx: Record<string, unknown>) => {
            const first = next < people.length;
            const i = next++ % people.length;
            ctx.token = tokens[i];
            ctx.first = first;
            ctx.sentAt = performance.now();
            return {
              ...req,
              headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[i]}` },
              body: JSON.stringify({ programId, locationId: people[i].locationId }),
            };
          },
          onResponse: (status: number, body: string, ctx: Record<string, unknown>) => {
            statuses[`enroll ${status}`] = (statuses[`enroll ${status}`] ?? 0) + 1;
            answered(ctx, 'enroll', status);
            try {
              ctx.enrollmentId = JSON.parse(body).enrollmentId;
            } catch {
              ctx.enrollmentId = 'unknown';
            }
          },
        },
        {
          method: 'POST',
          setupRequest: (req: Record<string, unknown>, ctx: Record<string, unknown>) => {
            ctx.sentAt = performance.now();
            return {
              ...req,
              path: `/v1/enrollments/${encodeURIComponent(String(ctx.enrollmentId))}/submit`,
              headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.token}` },
              body: '{}',
            };
          },
          onResponse: (status: number, _body: string, ctx: Record<string, unknown>) => {
            statuses[`submit ${status}`] = (statuses[`submit ${status}`] ?? 0) + 1;
            answered(ctx, 'submit', status);
          },
        },
      ],
    });
    // Only when asked for: the load generator's CPU counts in the machine's CPU per request.
    const cpuSamples: Array<Record<string, number>> = [];
    let sampler: NodeJS.Timeout | undefined;
    if (ENROLL_TIMELINE) {
      const infra = infraPids();
      cpuSamples.push(cpuSample(platform, infra));
      sampler = setInterval(() => cpuSamples.push(cpuSample(platform, infra)), 500);
    }
    const result = await instance;
    clearInterval(sampler);
    if (ENROLL_TIMELINE) logTimeline(programId, answers, cpuSamples);
    const done = measuredAnswers >= 2 * people.length;
    const repeats = Math.max(0, next - people.length);
    // Over the measured calls' own length: up to the last one's answer when all were answered, else the whole run.
    const times = answers.map((a) => a.ms);
    const figures = { requests: answers.length, seconds: (done ? lastAnswerAt : Date.now() - startedAt) / 1000, p50: percentile(times, 50), p99: percentile(times, 99) };
    return { result, statuses, measuredStatuses, repeats, figures, done };
  };
  // Warm-up on a program of its own and other locations (the measured run enrolls its locations for the first time,
  // as without it): the services' first calls compile their code paths and fill their connection pools.
  if (ENROLL_WARMUP_SECONDS > 0) {
    const warm = spare.length >= ENROLL_CONNECTIONS ? spare : measured;
    await load(await createProgram(`enroll${run}-warmup`), ENROLL_WARMUP_SECONDS, warm, warm === measured ? measuredTokens : spareTokens);
  }
  const programId = await createProgram(`enroll${run}`);
  // The warm-up's events (emails, views) are handled before the measured run starts, as before any phase.
  if (ENROLL_WARMUP_SECONDS > 0) await settle();
  await eventLoopDelays(platform);
  cpu.begin();
  const { result, statuses, measuredStatuses, repeats, figures, done } = await load(programId, ENROLL_SECONDS, measured, measuredTokens);
  // Answers other than the ones this load makes (a location's first Enroll 201 and its Submit 200, ENROLLED; a repeat's
  // Enroll 200 and Submit 200, the enrollment as it is), transport errors and timeouts are not the work measured: said,
  // not counted as if they were.
  const repeatStatuses = Object.fromEntries(Object.keys(statuses).map((kind) => [kind, statuses[kind] - (measuredStatuses[kind] ?? 0)]).filter(([, n]) => (n as number) > 0));
  const unexpected = [
    ...Object.entries(measuredStatuses).filter(([kind]) => kind !== 'enroll 201' && kind !== 'submit 200'),
    ...Object.entries(repeatStatuses).filter(([kind]) => kind !== 'enroll 200' && kind !== 'submit 200').map(([kind, n]) => [`repeat ${kind}`, n]),
  ];
  if (unexpected.length || result.errors || result.timeouts) {
    incomplete(`enroll ${run}: ${JSON.stringify(Object.fromEntries(unexpected))}, ${result.errors} errors, ${result.timeouts} timeouts (figures include them)`);
  }
  if (done) log(`enroll ${run}: every one of the ${measured.length} locations enrolled and submitted in ${round1(figures.seconds)} s (figures up to the last answer; ${repeats} repeats meanwhile, not counted)`);
  const cpuMsPerRequest = cpu.perDecision(result.requests.total || 1);
  const writesPerRequest = Math.round(((await enrollmentWrites(platform, programId)) / (result.requests.total || 1)) * 1000) / 1000;
  const loopDelays = await eventLoopDelays(platform);
  // Little's law: with every client always waiting, latency = clients / throughput, and throughput is at most the
  // cores over the CPU the whole machine spends per request (service, database, the load generator itself).
  const latencyFloorMs = Math.round((ENROLL_CONNECTIONS * cpuMsPerRequest.machine) / cores());
  // Over the run's own length (up to when every location was enrolled, if it was): not the per-second mean, which a
  // last partial second would lower.
  const out = { requestsPerSecond: Math.round(figures.requests / figures.seconds), p99: figures.p99, p50: figures.p50, statuses, cpuMsPerRequest, latencyFloorMs, writesPerRequest };
  log(
    `enroll ${run}: ${ENROLL_CONNECTIONS} clients for ${ENROLL_SECONDS} s: ${out.requestsPerSecond} req/s, p50 ${out.p50} ms, p99 ${out.p99} ms, ${JSON.stringify(statuses)}` +
      `; CPU ms per request: ${JSON.stringify(cpuMsPerRequest)}; mean latency floor at this CPU ${latencyFloorMs} ms` +
      `; ${writesPerRequest} enrollment writes per request` +
      `; event-loop delay p99/max ms: ${SERVICES.map((s) => `${s} ${loopDelays[s].p99Ms}/${loopDelays[s].maxMs}`).join(', ')}`,
  );
  return out;
}

/* ------------------------------------------------------------------------------------------------ SMTP ceiling */

/** The SMTP server's acceptance rate: pooled nodemailer connections, 8 in flight, small text mails. */
async function smtpCeiling(count = 2_000): Promise<number> {
  const server = await new SmtpTestServer({ parse: false }).start();
  let accepted = 0;
  server.arrivals.push(() => void (accepted += 1));
  const transport = createTransport({ url: server.url, pool: true, maxConnections: 8, maxMessages: Infinity });
  try {
    const t = performance.now();
    await pool(Array.from({ length: count }, (_, i) => i), 8, async (i) => {
      await transport.sendMail({ from: 'bench@bench.example', to: `r${i}@bench.example`, subject: 'ceiling', text: 'x'.repeat(2_000), html: `<p>${'x'.repeat(4_000)}</p>` });
    });
    return Math.round(accepted / ((performance.now() - t) / 1000));
  } finally {
    transport.close();
    await server.stop();
  }
}

/* ------------------------------------------------------------------------------------------------ main */

async function main(): Promise<void> {
  const startedAt = new Date();
  log(`pipeline bench: scale ${SCALE}, ${RUNS} run(s), burst ${BURST}, steady ${STEADY_RATE}/s for ${STEADY_SECONDS} s, phases ${[...PHASES].join(',')}`);
  log(`services: ${SERVICES.map((s) => `${s} [${RUN_AS[s].nodeArgs.join(' ') || 'no node options'}, LOG_LEVEL ${RUN_AS[s].logLevel}]`).join(', ')}`);
  log(`load average at start: ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);
  const infra = await resolveInfra({ name: 'bench', log });
  process.env.KAFKA_BROKERS = infra.kafkaBrokers.join(',');
  process.env.MONGO_URL = infra.mongoUrl;
  log(`kafka ${infra.mode.kafka} ${infra.kafkaBrokers}, mongo ${infra.mode.mongo} ${infra.mongoUrl}`);
  const bench = new PipelineBench();
  try {
    // BENCH_CEILING_RUNS=0 skips the ceilings (quick experiments; the ratios are then null).
    const ceilingRuns = Number(process.env.BENCH_CEILING_RUNS ?? Math.min(RUNS, 3));
    const ceilings: Ceilings & { smtpAcceptsPerSec: number } = {
      ...(ceilingRuns > 0
        ? await measureCeilings(infra.kafkaBrokers, infra.mongoUrl, { runs: ceilingRuns, log: (l) => log(`ceiling ${l}`) })
        : { kafkaProduceMsgsPerSec: NaN, kafkaConsumeMsgsPerSec: NaN, mongooseUpsertsPerSec: NaN, driverUpsertsPerSec: NaN, driverUpsertsPerSecConcurrent16: NaN, driverBulkUpdatesPerSec: NaN }),
      smtpAcceptsPerSec: NaN,
    };
    const smtpRuns: number[] = [];
    for (let i = 0; i < ceilingRuns; i++) smtpRuns.push(await smtpCeiling());
    if (smtpRuns.length) ceilings.smtpAcceptsPerSec = Math.round(median(smtpRuns));
    log(`ceilings: ${JSON.stringify(ceilings)}`);
    log(`load average before the platform: ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);

    await bench.start(infra.kafkaBrokers);
    // Enroll's measured run takes 40 locations a client and its warm-up 10 more: an Enroll-only run is the same work.
    const needed = Math.max(
      PHASES.has('burst') ? BURST : 0,
      PHASES.has('steady') ? STEADY_RATE * STEADY_SECONDS : 0,
      PHASES.has('enroll') ? ENROLL_CONNECTIONS * (ENROLL_LOCATIONS_PER_CLIENT + ENROLL_WARMUP_LOCATIONS_PER_CLIENT) : 0,
      100,
    );
    const seeding = await bench.seed(needed);

    const bursts: Array<Awaited<ReturnType<PipelineBench['burst']>>> = [];
    if (PHASES.has('burst')) for (let run = 1; run <= RUNS; run++) bursts.push(await bench.burst(run));

    const steadies: Array<Awaited<ReturnType<PipelineBench['steady']>>> = [];
    const sampler = new RssSampler(bench.platform);
    if (PHASES.has('steady')) {
      for (let run = 1; run <= RUNS; run++) steadies.push(await bench.steady(run, sampler));
    }

    const enrolls: Array<NonNullable<Awaited<ReturnType<typeof enrollPhase>>>> = [];
    if (PHASES.has('enroll')) {
      for (let run = 1; run <= RUNS; run++) {
        const r = await bench.enroll(run);
        if (!r) {
          log('enroll: the enrollment service has no Enroll/Submit API yet; skipped');
          break;
        }
        enrolls.push(r);
      }
    }

    const med = <T>(rows: T[], pick: (r: T) => number) => (rows.length ? median(rows.map(pick)) : null);
    const burstDecisionsPerSecond = med(bursts, (r) => r.decisionsPerSecond);
    const enrollRequestsPerSecond = med(enrolls, (r) => r.requestsPerSecond);
    // The bounds (see the constants at the top for how each count was made):
    const bounds = {
      // every write a sequential single-document upsert round trip, nothing else costing anything
      burstByUpserts: ceilings.driverUpsertsPerSec / WRITES_PER_DECISION,
      // the broker's produce rate shared by the four messages of one decision
      burstByKafka: ceilings.kafkaProduceMsgsPerSec / MESSAGES_PER_DECISION,
      // one email per decision through the SMTP server
      burstBySmtp: ceilings.smtpAcceptsPerSec,
      // the machine's cores divided by the CPU the whole machine spent per decision during the bursts (Kafka,
      // MongoDB, the five services, the benchmark): what the pipeline reaches once CPU is the only limit
      burstByCpu: bursts.length ? (cores() * 1000) / median(bursts.map((b) => b.cpuMsPerDecision.machine)) : NaN,
      // latency floor: the round trips on the critical path, each at the sequential upsert time
      steadyLatencyFloorMs: (ROUND_TRIPS_ON_PATH * 1000) / ceilings.driverUpsertsPerSec,
      // the writes the calls made (measured: enrollmentWrites) through the 16-wide upsert ceiling (the HTTP clients
      // are concurrent)
      enrollByUpserts: ceilings.driverUpsertsPerSecConcurrent16 / (med(enrolls, (r) => r.writesPerRequest) || NaN),
    };
    const burstBound = Math.min(bounds.burstByUpserts, bounds.burstByKafka, bounds.burstBySmtp);
    const memory = Object.fromEntries(
      SERVICES.map((s) => {
        const xs = sampler.samples.get(s)!.filter((x) => Number.isFinite(x));
        const first = xs[0];
        const last = xs[xs.length - 1];
        const max = Math.max(...xs);
        // Flat: the median of the second half of the samples within 15% (or 40 MB) of the first half's. Single
        // samples swing by 80 MB with the garbage collector's sawtooth; a leak moves the whole second half.
        const half = Math.floor(xs.length / 2);
        const firstHalf = median(xs.slice(0, half));
        const secondHalf = median(xs.slice(half));
        // Judged over 30 s of load at least (15 samples): over a few seconds the sawtooth is all there is to see.
        const flat = xs.length >= MIN_MEMORY_SAMPLES ? secondHalf - firstHalf < Math.max(0.15 * firstHalf, 40) : null;
        return [s, { firstMb: first, lastMb: last, maxMb: max, firstHalfMedianMb: firstHalf, secondHalfMedianMb: secondHalf, flat }];
      }),
    );
    for (const [s, m] of Object.entries(memory)) {
      if (m.flat === null) {
        log(`memory ${s}: not measured (${m.firstMb === undefined ? 'no steady run' : 'too few samples'})`);
        continue;
      }
      log(
        `memory ${s}: first ${m.firstMb} MB, last ${m.lastMb} MB, max ${m.maxMb} MB over the steady runs; ` +
          `median of the first half ${m.firstHalfMedianMb} MB, of the second ${m.secondHalfMedianMb} MB (${m.flat ? 'flat' : 'GROWING'})`,
      );
      // The curve, every 10 s: heap growing to its working size levels off; a leak keeps climbing.
      const xs = sampler.samples.get(s as (typeof SERVICES)[number])!.filter((_, i) => i % 5 === 0);
      log(`  ${s} RSS every 10 s: ${xs.join(' ')}`);
    }
    const figures = {
      burstDecisionsPerSecond,
      burstP50Ms: med(bursts, (r) => r.p50),
      burstP99Ms: med(bursts, (r) => r.p99),
      burstRatio: burstDecisionsPerSecond === null ? null : Math.round((burstDecisionsPerSecond / burstBound) * 100) / 100,
      burstRatioToUpsertBound: burstDecisionsPerSecond === null ? null : Math.round((burstDecisionsPerSecond / bounds.burstByUpserts) * 100) / 100,
      burstDelivered: med(bursts, (r) => r.delivered),
      burstCpuMsPerDecision: bursts.length ? Object.fromEntries(Object.keys(bursts[0].cpuMsPerDecision).map((k) => [k, median(bursts.map((b) => b.cpuMsPerDecision[k]))])) : null,
      burstRatioToCpuBound: burstDecisionsPerSecond === null ? null : Math.round((burstDecisionsPerSecond / bounds.burstByCpu) * 100) / 100,
      steadyRate: STEADY_RATE,
      steadyAchievedRate: med(steadies, (r) => r.achievedRate),
      steadyP50Ms: med(steadies, (r) => r.p50),
      steadyP99Ms: med(steadies, (r) => r.p99),
      // Emails that arrived within the minute after the load (of steadySent): p50/p99 are of those only.
      steadyDelivered: med(steadies, (r) => r.delivered),
      steadySent: med(steadies, (r) => r.sent),
      steadyRatio: steadies.length ? Math.round((bounds.steadyLatencyFloorMs / med(steadies, (r) => r.p50)!) * 1000) / 1000 : null,
      lagDrainSeconds: med(steadies, (r) => r.lagDrainSeconds),
      steadyEmailDrainSeconds: med(steadies, (r) => r.emailDrainSeconds),
      enrollRequestsPerSecond,
      enrollP99Ms: med(enrolls, (r) => r.p99),
      enrollP50Ms: med(enrolls, (r) => r.p50),
      enrollCpuMsPerRequest: med(enrolls, (r) => r.cpuMsPerRequest.machine),
      enrollLatencyFloorMs: med(enrolls, (r) => r.latencyFloorMs),
      enrollWritesPerRequest: med(enrolls, (r) => r.writesPerRequest),
      enrollRatio: enrollRequestsPerSecond === null ? null : Math.round((enrollRequestsPerSecond / bounds.enrollByUpserts) * 100) / 100,
      peakRssMb: bench.peakRss(),
      memoryFlat: Object.fromEntries(Object.entries(memory).map(([s, m]) => [s, m.flat])),
      memory,
      ceilings,
      bounds: Object.fromEntries(Object.entries(bounds).map(([k, v]) => [k, round1(v)])),
      seeding,
      runs: RUNS,
      scale: SCALE,
      burstSize: BURST,
      steadySeconds: STEADY_SECONDS,
      loadAverage: loadavg().map((n) => Math.round(n * 100) / 100),
      infra: infra.mode,
      startedAt: startedAt.toISOString(),
      // False when a phase did not finish what it measures (listed): its figures are of what did, and the process
      // exits with 1.
      complete: problems.length === 0,
      incomplete: problems,
    };
    if (problems.length) {
      log(`INCOMPLETE: ${problems.length} phase(s) did not finish what they measure; their figures below are of what did:`);
      for (const problem of problems) log(`  - ${problem}`);
      process.exitCode = 1;
    }
    log(JSON.stringify(figures));
  } finally {
    await bench.stop().catch((error) => log(`stopping the platform: ${error}`));
    await infra.stop();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error) => {
    process.stderr.write(`${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
