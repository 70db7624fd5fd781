/**
 * The raw ceilings of the servers on this machine, each the median of several runs:
 *  - kafkajs produce throughput (1 KB messages, acks=all, batches) and consume throughput (one consumer group);
 *  - single-document upserts per second through mongoose and through the plain driver (sequential and 16-wide);
 *  - bulk updates per second through the plain driver (unordered bulkWrite of 1,000).
 * Later benchmarks divide their figures by these. Exported for them; runnable alone as `npm run bench:infra`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { MongoClient } from 'mongodb';
import mongoose from 'mongoose';
import { resolveInfra } from '../libs/testing/src/infra/resolve';

export interface Ceilings {
  kafkaProduceMsgsPerSec: number;
  kafkaConsumeMsgsPerSec: number;
  mongooseUpsertsPerSec: number;
  driverUpsertsPerSec: number;
  driverUpsertsPerSecConcurrent16: number;
  driverBulkUpdatesPerSec: number;
}

/** The median; NaN when a value is (a run that measured nothing must not vanish into a median of the others). */
export const median = (values: number[]): number => {
  if (values.some((v) => Number.isNaN(v))) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const round = (n: number) => Math.round(n);

async function kafkaRun(brokers: string[], count: number): Promise<{ produce: number; consume: number }> {
  const kafka = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING });
  const topic = `bench-${randomUUID()}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true });
  await admin.disconnect();
  const value = randomBytes(512).toString('hex'); // 1 KB
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const batch = 500;
  const t0 = performance.now();
  for (let i = 0; i < count; i += batch) {
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: Math.min(batch, count - i) }, (_, j) => ({ key: `k${(i + j) % 1000}`, value })),
    });
  }
  const produce = count / ((performance.now() - t0) / 1000);
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `bench-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  let t1 = 0;
  const consume = await new Promise<number>((resolve) => {
    void consumer.run({
      partitionsConsumedConcurrently: 6,
      eachMessage: async () => {
        if (seen === 0) t1 = performance.now();
        seen += 1;
        if (seen === count) resolve(count / ((performance.now() - t1) / 1000));
      },
    });
  });
  await consumer.disconnect();
  const cleanup = kafka.admin();
  await cleanup.connect();
  await cleanup.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await cleanup.disconnect();
  return { produce, consume };
}

async function mongoRun(url: string, count: number) {
  const db = `bench_${randomBytes(4).toString('hex')}`;
  const client = new MongoClient(url, { directConnection: true });
  await client.connect();
  const col = client.db(db).collection<{ _id: string; n?: number; v?: string }>('docs');
  const value = randomBytes(256).toString('hex');

  let t = performance.now();
  for (let i = 0; i < count; i++) {
    await col.updateOne({ _id: `d${i}` }, { $set: { v: value }, $inc: { n: 1 } }, { upsert: true });
  }
  const driver = count / ((performance.now() - t) / 1000);

  t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < count) {
        const i = next++;
        await col.updateOne({ _id: `c${i}` }, { $set: { v: value }, $inc: { n: 1 } }, { upsert: true });
      }
    }),
  );
  const concurrent = count / ((performance.now() - t) / 1000);

  const bulkCount = count * 5;
  t = performance.now();
  for (let i = 0; i < bulkCount; i += 1000) {
    await col.bulkWrite(
      Array.from({ length: Math.min(1000, bulkCount - i) }, (_, j) => ({
        updateOne: { filter: { _id: `b${i + j}` }, update: { $set: { v: value }, $inc: { n: 1 } }, upsert: true },
      })),
      { ordered: false },
    );
  }
  const bulk = bulkCount / ((performance.now() - t) / 1000);

  const connection = await mongoose.createConnection(url, { dbName: db }).asPromise();
  const Model = connection.model('Doc', new mongoose.Schema({ _id: String, n: Number, v: String }), 'mdocs');
  t = performance.now();
  for (let i = 0; i < count; i++) {
    await Model.updateOne({ _id: `m${i}` }, { $set: { v: value }, $inc: { n: 1 } }, { upsert: true });
  }
  const viaMongoose = count / ((performance.now() - t) / 1000);
  await connection.close();
  await client.db(db).dropDatabase();
  await client.close();
  return { driver, concurrent, bulk, viaMongoose };
}

export async function measureCeilings(
  brokers: string[],
  mongoUrl: string,
  { runs = 3, messages = 20_000, upserts = 2_000, log = (_line: string): void => undefined } = {},
): Promise<Ceilings> {
  const k: Array<{ produce: number; consume: number }> = [];
  const m: Array<Awaited<ReturnType<typeof mongoRun>>> = [];
  // The servers run on the JVM: one uncounted pass lets the JIT compile their hot paths first.
  await kafkaRun(brokers, Math.ceil(messages / 4));
  await mongoRun(mongoUrl, Math.ceil(upserts / 2));
  for (let i = 0; i < runs; i++) {
    k.push(await kafkaRun(brokers, messages));
    log(`kafka run ${i + 1}: produce ${round(k[i].produce)}/s, consume ${round(k[i].consume)}/s`);
    m.push(await mongoRun(mongoUrl, upserts));
    log(`mongo run ${i + 1}: driver ${round(m[i].driver)}/s, 16-wide ${round(m[i].concurrent)}/s, bulk ${round(m[i].bulk)}/s, mongoose ${round(m[i].viaMongoose)}/s`);
  }
  return {
    kafkaProduceMsgsPerSec: round(median(k.map((r) => r.produce))),
    kafkaConsumeMsgsPerSec: round(median(k.map((r) => r.consume))),
    mongooseUpsertsPerSec: round(median(m.map((r) => r.viaMongoose))),
    driverUpsertsPerSec: round(median(m.map((r) => r.driver))),
    driverUpsertsPerSecConcurrent16: round(median(m.map((r) => r.concurrent))),
    driverBulkUpdatesPerSec: round(median(m.map((r) => r.bulk))),
  };
}

if (require.main === module) {
  (async () => {
    const infra = await resolveInfra({ name: 'bench' });
    try {
      process.stdout.write(`kafka ${infra.mode.kafka} ${infra.kafkaBrokers}, mongo ${infra.mode.mongo} ${infra.mongoUrl}\n`);
      const ceilings = await measureCeilings(infra.kafkaBrokers, infra.mongoUrl, {
        runs: Number(process.env.BENCH_RUNS ?? 5),
        log: (line) => void process.stdout.write(`${line}\n`),
      });
      process.stdout.write(`medians:\n${JSON.stringify(ceilings)}\n`);
    } finally {
      await infra.stop();
    }
  })().catch((error) => {
    process.stderr.write(`${error.stack ?? error}\n`);
    process.exit(1);
  });
}
