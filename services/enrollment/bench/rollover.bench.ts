/**
 * The fiscal-year rollover at scale: seeds N ENROLLED enrollments (with their eligibility and approved bank and tax
 * profiles in the service's views), runs the rollover through the operator API of the service running as its own
 * process, and prints enrollments per second, the service's memory (sampled from /proc during the run), the time the
 * outbox relay took to publish the events, and the ratio to the plain-driver bulk-update ceiling measured in the same
 * run on the same server (100,000 documents like the enrollments, updated by _id with unordered bulkWrite, and with
 * one updateMany).
 *
 *   npm run bench:rollover                      # sizes 20000 then 100000 (the first also warms the service up)
 *   BENCH_SIZES=100000 npm run bench:rollover
 *
 * Servers: KAFKA_BROKERS / MONGO_URL when set, otherwise the project's local Kafka and MongoDB-compatible server.
 */
import { ALL_TOPICS } from '@lib/contracts';
import { PENDING_OUTBOX } from '@lib/messaging';
import { freePort, OPERATOR_KEY, PROJECT_ROOT, resolveInfra, SERVICE_NODE_ARGS, spawnServer, uniqueName, waitFor } from '@lib/testing';
import { buildServices } from '@lib/testing/infra/build';
import { AnyBulkWriteOperation, MongoClient } from 'mongodb';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { enrollmentId } from '../src/common/ids';
import { deployed } from '../../../bench/deployed';
import { groupAtEnd } from '../test/kafka-group';

const SIZES = (process.env.BENCH_SIZES ?? '20000,100000').split(',').map(Number);
const CEILING_DOCS = Number(process.env.BENCH_CEILING_DOCS ?? 100_000);
const LOCATIONS_PER_PARTNER = 10;
const PROGRAM = 'bench-program';

const log = (line: string) => process.stdout.write(`${line}\n`);
const mb = (kb: number) => Math.round(kb / 1024);
const rate = (count: number, ms: number) => Math.round(count / (ms / 1000));

function procStatus(pid: number): { rssKb: number; hwmKb: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}

/**
 * Resets the process's VmHWM to its RSS now (Linux: `5` to /proc/<pid>/clear_refs), so that a run's high-water mark
 * is its own, not an earlier run's; false where the kernel refuses it (the peak then counts from the process's start).
 */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

function enrollmentDoc(i: number, fiscalYear: string, run: string, now: Date) {
  const partnerId = `bp${Math.floor(i / LOCATIONS_PER_PARTNER)}-${run}`;
  const locationId = `bl${i}-${run}`;
  return {
    _id: enrollmentId({ programId: PROGRAM, locationId, fiscalYear }),
    programId: PROGRAM,
    programName: 'Benchmark incentive',
    partnerId,
    locationId,
    fiscalYear,
    status: 'ENROLLED',
    reasons: [] as string[],
    missing: [] as string[],
    bankProfileId: `bb-${partnerId}`,
    taxProfileId: `bt-${locationId}`,
    bankChosen: false,
    evaluatedAt: now,
    startedAt: now,
    startedBy: 'bench',
    submittedAt: now,
    submittedBy: 'bench',
    enrolledAt: now,
    validated: { bank: 1, tax: 1 },
    version: 3,
    createdAt: now,
    updatedAt: now,
  };
}

async function insertInChunks(collection: ReturnType<ReturnType<MongoClient['db']>['collection']>, count: number, make: (i: number) => object, chunk = 5_000) {
  for (let i = 0; i < count; i += chunk) {
    await collection.insertMany(Array.from({ length: Math.min(chunk, count - i) }, (_, j) => make(i + j)) as never[], { ordered: false });
  }
}

/** N enrollments of `fiscalYear` that all continue: eligible, approved profiles, tax valid well past the new year. */
async function seed(db: ReturnType<MongoClient['db']>, n: number, fiscalYear: string, run: string) {
  const now = new Date();
  await insertInChunks(db.collection('enrollments'), n, (i) => enrollmentDoc(i, fiscalYear, run, now));
  await insertInChunks(db.collection('eligibility_view'), n, (i) => {
    const { locationId, partnerId } = enrollmentDoc(i, fiscalYear, run, now);
    return { _id: `${PROGRAM}|${locationId}`, programId: PROGRAM, locationId, partnerId, years: { [fiscalYear]: { eligible: true, reasons: [], decidedAt: now, eventId: `e${i}` } } };
  });
  await insertInChunks(db.collection('profile_view'), n, (i) => {
    const { locationId, partnerId } = enrollmentDoc(i, fiscalYear, run, now);
    return { _id: `bt-${locationId}`, kind: 'TAX', partnerId, locationId, revision: 1, rank: 3, status: 'APPROVED', reasons: [], expiresAt: new Date('2040-01-01T00:00:00Z'), updatedAt: now };
  });
  // Each partner's agreement active, as the agreements system last said (with the inactive status before it): the
  // rollover weighs the status in force as the new year begins.
  const yearAgo = new Date(now.getTime() - 365 * 86_400_000);
  await insertInChunks(db.collection('agreement_view'), Math.ceil(n / LOCATIONS_PER_PARTNER), (p) => ({
    _id: `bp${p}-${run}`,
    active: true,
    changedAt: yearAgo,
    position: { partition: 0, offset: String(2 * p + 1) },
    earlier: [{ active: false, changedAt: new Date(yearAgo.getTime() - 30 * 86_400_000), position: { partition: 0, offset: String(2 * p) } }],
  }));
  await insertInChunks(db.collection('profile_view'), Math.ceil(n / LOCATIONS_PER_PARTNER), (p) => {
    const partnerId = `bp${p}-${run}`;
    return { _id: `bb-${partnerId}`, kind: 'BANK', partnerId, revision: 1, rank: 3, status: 'APPROVED', reasons: [], currency: 'USD', paymentMethod: 'ELECTRONIC_BANK_TRANSFER', updatedAt: now };
  });
}

/** The plain-driver ceiling: the same documents, updated by _id (unordered bulkWrite of 1,000), then one updateMany. */
async function ceiling(client: MongoClient, count: number) {
  const db = client.db(uniqueName('bench_ceiling'));
  const collection = db.collection<{ _id: string }>('docs');
  const now = new Date();
  await insertInChunks(collection as never, count, (i) => enrollmentDoc(i, 'FY27', 'ceiling', now));
  const ids = Array.from({ length: count }, (_, i) => enrollmentDoc(i, 'FY27', 'ceiling', now)._id);
  const info = JSON.stringify(await client.db('admin').command({ buildInfo: 1 })).toLowerCase();
  // FerretDB 1.24 never answers a bulkWrite of 100 or more updates of existing documents.
  const chunk = info.includes('ferretdb') ? 50 : 1_000;
  let t = performance.now();
  for (let i = 0; i < count; i += chunk) {
    const ops: AnyBulkWriteOperation<{ _id: string }>[] = ids.slice(i, i + chunk).map((_id) => ({
      updateOne: { filter: { _id }, update: { $set: { rollover: { toFiscalYear: 'FY28', outcome: 'RENEWED', at: now }, updatedAt: now }, $inc: { version: 1 } } },
    }));
    await collection.bulkWrite(ops, { ordered: false });
  }
  const bulkWrite = rate(count, performance.now() - t);
  t = performance.now();
  await collection.updateMany({}, { $set: { updatedAt: new Date() }, $inc: { version: 1 } });
  const updateMany = rate(count, performance.now() - t);

  // The writes a renewal needs, without any of the rollover's reading or deciding: the next-year document with its
  // event inserted (insertMany of 1,000), the mark on the old one (bulkWrite by _id), the relay's removal of the
  // published event (bulkWrite of $pullAll by _id). Three writes where the ceiling above is one.
  const outbox = (i: number) => [{ eventId: `ev-${i}`, topic: 'enrollments.events.v1', key: `k${i}`, value: JSON.stringify(enrollmentDoc(i, 'FY28', 'ceiling', now)), createdAt: now }];
  t = performance.now();
  for (let i = 0; i < count; i += chunk) {
    const slice = ids.slice(i, i + chunk);
    await collection.insertMany(slice.map((_, j) => ({ ...enrollmentDoc(i + j, 'FY28', 'ceiling', now), outbox: outbox(i + j) })) as never[], { ordered: false });
    await collection.bulkWrite(slice.map((_id) => ({ updateOne: { filter: { _id }, update: { $set: { rollover: { toFiscalYear: 'FY28', outcome: 'RENEWED', at: now } } } } })), { ordered: false });
    const next = slice.map((_, j) => enrollmentDoc(i + j, 'FY28', 'ceiling', now)._id);
    await collection.bulkWrite(next.map((_id, j) => ({ updateOne: { filter: { _id }, update: { $pullAll: { outbox: outbox(i + j) } } } })) as never, { ordered: false });
  }
  const renewalWrites = rate(count, performance.now() - t);
  await db.dropDatabase();
  return { bulkWritePerSec: bulkWrite, updateManyPerSec: updateMany, renewalWritesPerSec: renewalWrites, chunk };
}

async function main() {
  const infra = await resolveInfra({ name: 'bench-rollover', log });
  process.env.KAFKA_BROKERS = infra.kafkaBrokers.join(',');
  process.env.MONGO_URL = infra.mongoUrl;
  log(`kafka ${infra.mode.kafka} ${infra.kafkaBrokers.join(',')}, mongo ${infra.mode.mongo} ${infra.mongoUrl}`);
  const client = await new MongoClient(infra.mongoUrl, { directConnection: true }).connect();
  const run = Math.random().toString(36).slice(2, 8);
  const dbName = uniqueName('enrollment_bench');
  const db = client.db(dbName);
  const groupId = uniqueName('enrollment-bench');
  let child: ReturnType<typeof spawnServer> | undefined;
  try {
    log(`ceiling: ${CEILING_DOCS} documents through the plain driver...`);
    const ceil = await ceiling(client, CEILING_DOCS);
    log(`ceiling: bulkWrite ${ceil.bulkWritePerSec}/s (unordered, ${ceil.chunk} per command), updateMany ${ceil.updateManyPerSec}/s`);
    log(`floor of a renewal's own writes (insert with event, mark, event removal), plain driver: ${ceil.renewalWritesPerSec}/s`);

    await groupAtEnd(groupId, ALL_TOPICS, infra.kafkaBrokers);
    const port = await freePort();
    // BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the service (after the deployment's options: a
    // flag given again there wins).
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    // The node options the service is deployed with, so that the memory measured is the deployment's. Without a limit V8
    // lets the heap grow with what the run allocates before it collects (RSS 524 MB at 20,000 and 704 MB at 100,000 in
    // session 36); with it, the same runs peak at 377 and 427 MB.
    const { nodeOptions, logLevel } = deployed('enrollment');
    log(`service node options as deployed (deploy/k8s/enrollment.yaml NODE_OPTIONS): ${nodeOptions.join(' ') || '(none)'}`);
    // The service as its image runs it: the compiled build (from source through a compiler in the process, its memory
    // was the compiler's too).
    await buildServices(log);
    child = spawnServer(process.execPath, [...SERVICE_NODE_ARGS, ...nodeOptions, ...nodeArgs, join(PROJECT_ROOT, 'dist/services/enrollment/src/main.js')], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        KAFKA_BROKERS: infra.kafkaBrokers.join(','),
        MONGO_URL: infra.mongoUrl,
        MONGO_DB: dbName,
        KAFKA_GROUP_ID: groupId,
        PORT: String(port),
        JWT_ISSUER: 'https://issuer.bench.local',
        JWKS_URL: 'http://127.0.0.1:9/.well-known/jwks.json',
        OPERATOR_TOKEN: OPERATOR_KEY,
        ROLLOVER_CRON: 'off',
        LOG_LEVEL: logLevel ?? 'info',
        NODE_ENV: 'production',
      },
      logFile: join(PROJECT_ROOT, '.local', 'logs', `${groupId}.log`),
    });
    const pid = child.child.pid!;
    const base = `http://127.0.0.1:${port}`;
    await waitFor('enrollment service ready', async () => (await fetch(`${base}/health/ready`).catch(() => undefined))?.ok ?? false, { timeoutMs: 120_000, intervalMs: 250 });
    const now = new Date();
    await db.collection('programs').insertOne({
      _id: PROGRAM,
      name: 'Benchmark incentive',
      fiscalYear: 'FY27',
      requiresEligibility: true,
      payoutRules: { allowedCurrencies: ['USD'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER'], taxProfileRequired: true },
      state: 'OPEN',
      revision: 1,
      createdAt: now,
      updatedAt: now,
    } as never);

    const results = [];
    for (const [index, size] of SIZES.entries()) {
      const fromFiscalYear = `FY${27 + index * 2}`;
      const seedStarted = performance.now();
      await seed(db, size, fromFiscalYear, `${run}${index}`);
      log(`\n${size} ENROLLED enrollments of ${fromFiscalYear} seeded in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s; rss ${mb(procStatus(pid).rssKb)} MB`);

      const samples: Array<{ at: number; rssKb: number }> = [];
      const ownPeak = resetPeak(pid);
      const started = performance.now();
      const sampler = setInterval(() => samples.push({ at: performance.now() - started, rssKb: procStatus(pid).rssKb }), 200);
      const answer = await fetch(`${base}/v1/operator/rollover`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-operator-key': OPERATOR_KEY },
        // The year-end rollover, as the schedule runs it once the year is over (these years are not over yet: without
        // endYearNow the service would take an operator's early run, which continues the completed ones only).
        body: JSON.stringify({ fromFiscalYear, endYearNow: true }),
      });
      const summary = (await answer.json()) as { examined: number; renewed: number; durationMs: number; batches: number };
      const wallMs = performance.now() - started;
      clearInterval(sampler);
      if (answer.status !== 200 || summary.renewed !== size) throw new Error(`rollover answered ${answer.status}: ${JSON.stringify(summary)}`);
      // The kernel's high-water mark at the run's end (VmHWM: every moment, where the 200 ms samples may miss a spike),
      // reset as the run began (where the kernel lets it: otherwise since the service started).
      if (!ownPeak) log('peak RSS: /proc/<pid>/clear_refs refused, so VmHWM counts from the service\'s start');
      const peakRssKb = Math.max(procStatus(pid).hwmKb, ...samples.map((s) => s.rssKb));
      const rssAt = (fraction: number) => mb(samples[Math.min(samples.length - 1, Math.floor(samples.length * fraction))]?.rssKb ?? 0);
      // By the bench's own clock, from the request sent to its answer (the lease and the HTTP exchange included), not the
      // service's account of its run.
      const perSec = rate(size, wallMs);
      log(`rollover: ${size} in ${(wallMs / 1000).toFixed(1)} s (the service's own account: ${(summary.durationMs / 1000).toFixed(1)} s), ${perSec} enrollments/s, ${summary.batches} batches`);
      log(`service rss during the run: 25% ${rssAt(0.25)} MB, 50% ${rssAt(0.5)} MB, 75% ${rssAt(0.75)} MB, end ${rssAt(0.999)} MB, peak ${mb(peakRssKb)} MB`);
      log(`ratio to the plain-driver ceiling: ${(perSec / ceil.bulkWritePerSec).toFixed(2)} (bulkWrite), ${(perSec / ceil.updateManyPerSec).toFixed(2)} (updateMany), ${(perSec / ceil.renewalWritesPerSec).toFixed(2)} (a renewal's three writes)`);

      // The relay publishes the events (one per enrollment) and empties the outboxes.
      const relayStarted = performance.now();
      let pending = size;
      await waitFor('outbox drained', async () => {
        pending = await db.collection('enrollments').countDocuments(PENDING_OUTBOX);
        return pending === 0;
      }, { timeoutMs: 30 * 60_000, intervalMs: 1_000 });
      const drainMs = performance.now() - relayStarted + wallMs;
      // The peak of the whole job: the run, then its outbox backlog published (the heap grows with that backlog).
      const peakWithDrainKb = Math.max(peakRssKb, procStatus(pid).hwmKb);
      log(`relay: ${size} events published and removed ${(drainMs / 1000).toFixed(1)} s after the rollover started (${rate(size, drainMs)} events/s); service peak rss, run and drain, ${mb(peakWithDrainKb)} MB`);
      results.push({
        size,
        seconds: +(wallMs / 1000).toFixed(1),
        enrollmentsPerSecond: perSec,
        peakRssMb: mb(peakWithDrainKb),
        peakRssDuringRunMb: mb(peakRssKb),
        ratioToBulkWrite: +(perSec / ceil.bulkWritePerSec).toFixed(2),
        ratioToUpdateMany: +(perSec / ceil.updateManyPerSec).toFixed(2),
        ratioToRenewalWrites: +(perSec / ceil.renewalWritesPerSec).toFixed(2),
        relayDrainSeconds: +(drainMs / 1000).toFixed(1),
      });
    }
    log(JSON.stringify({ ceiling: ceil, runs: results }));
  } finally {
    if (child) {
      child.child.kill('SIGTERM');
      await Promise.race([child.exited, new Promise((r) => setTimeout(r, 20_000))]);
    }
    await db.dropDatabase().catch(() => undefined);
    await client.close();
    await infra.stop();
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
