/**
 * The consumer, the outbox relay and readiness against a broker that refuses or goes away: a dead letter the DLQ topic
 * refuses, a consumer KafkaJS gives up on, outbox entries larger than the broker accepts, a broker lost after start.
 */
import { createEnvelope, deadLetterTopic, DeadLetterHeaders, Topics } from '@lib/contracts';
import { KafkaEventServer, OutboxRelay } from '@lib/messaging';
import { BackgroundWork, PlatformModule } from '@lib/platform';
import { bootService, eventually, PROJECT_ROOT, runDir, RunningService, TestIssuer, TestKafka, TopicWatch } from '@lib/testing';
import { startKafka } from '@lib/testing/infra/kafka';
import { Module } from '@nestjs/common';
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { MongoClient } from 'mongodb';
import { ECHO_PREFIX, WidgetAppModule } from './widget.app';

jest.setTimeout(120_000);

const issuer = new TestIssuer();
const kafka = new TestKafka();
const mongo = new MongoClient(process.env.MONGO_URL!, { directConnection: true });
const DLQ = deadLetterTopic(Topics.agreements);
/** The broker's default, restored after each test. */
const DEFAULT_MAX_MESSAGE_BYTES = '1048588';
let watch: TopicWatch;

beforeAll(async () => {
  await issuer.start();
  await mongo.connect();
  watch = await kafka.watch([DLQ]);
});

afterAll(async () => {
  await kafka.close();
  await mongo.close();
  await issuer.stop();
});

async function setTopicConfig(topic: string, name: string, value: string): Promise<void> {
  const admin = new Kafka({ brokers: process.env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name, value }] }] });
  } finally {
    await admin.disconnect();
  }
}

function setDlqMaxMessageBytes(value: string, topic = DLQ): Promise<void> {
  return setTopicConfig(topic, 'max.message.bytes', value);
}

function boot(env: Record<string, string> = {}): Promise<RunningService> {
  return bootService(WidgetAppModule, { name: 'widgets', env: { ...issuer.env(), ...env }, startAtEndOf: [Topics.agreements] });
}

async function consumedCount(db: string, partnerId: string): Promise<number> {
  return (await mongo.db(db).collection<{ _id: string; consumed?: number }>('widgets').findOne({ _id: partnerId }))?.consumed ?? 0;
}

describe('dead letters the DLQ topic refuses', () => {
  it('sends the dead letter without its value when the DLQ refuses it as too large, and goes on with the partition', async () => {
    await setDlqMaxMessageBytes('16384');
    const service = await boot();
    try {
      const db = service.env.MONGO_DB;
      const key = randomUUID();
      // Not JSON (dead-lettered at once), and larger than the DLQ topic accepts.
      await kafka.publish(Topics.agreements, key, `not json ${'x'.repeat(50_000)}`);
      const good = `good-${key}`;
      await kafka.publishEvent(Topics.agreements, key, { type: 'AgreementStatusChanged', data: { partnerId: good, active: true } });

      await eventually(async () => expect(await consumedCount(db, good)).toBe(1), 30_000);
      const [dead] = await watch.waitFor(
        (m) => m.key === key && m.headers[DeadLetterHeaders.consumerGroup] === service.env.KAFKA_GROUP_ID,
        { timeoutMs: 10_000 },
      );
      expect(dead.raw).toBe('');
      expect(dead.headers[DeadLetterHeaders.valueDropped]).toMatch(/MESSAGE_TOO_LARGE|larger than/i);
      expect(dead.headers[DeadLetterHeaders.error]).toMatch(/not JSON/);
      expect(dead.headers[DeadLetterHeaders.originalTopic]).toBe(Topics.agreements);
      expect(dead.headers[DeadLetterHeaders.originalOffset]).toMatch(/^\d+$/);
    } finally {
      await service.close();
      await setDlqMaxMessageBytes(DEFAULT_MAX_MESSAGE_BYTES);
    }
  });

  it('restarts a consumer that crashed for good (non-retriable error), and consumes again once the cause is gone', async () => {
    // Even the dead letter without its value is too large: the batch fails with a non-retriable error and KafkaJS
    // stops the consumer (CRASH, restart=false).
    await setDlqMaxMessageBytes('100');
    let restored = false;
    const service = await boot();
    try {
      const db = service.env.MONGO_DB;
      const key = randomUUID();
      await eventually(async () => expect((await fetch(`${service.url}/health/ready`)).status).toBe(200), 30_000);
      // The server restarts the consumer itself only after a crash KafkaJS gives up on (CRASH, restart=false).
      const server = service.app.get(KafkaEventServer);
      const restartAfterCrash = jest.spyOn(server as unknown as { restartAfterCrash(): void }, 'restartAfterCrash');
      await kafka.publish(Topics.agreements, key, 'not json at all');
      // The consumer crashes for good (and is restarted, and crashes again): not a guess, the restart path ran.
      await eventually(async () => expect(restartAfterCrash).toHaveBeenCalled(), 30_000);
      await setDlqMaxMessageBytes(DEFAULT_MAX_MESSAGE_BYTES);
      restored = true;
      const good = `good-${key}`;
      await kafka.publishEvent(Topics.agreements, key, { type: 'AgreementStatusChanged', data: { partnerId: good, active: true } });

      await eventually(async () => expect(await consumedCount(db, good)).toBe(1), 45_000);
      const [dead] = await watch.waitFor(
        (m) => m.key === key && m.headers[DeadLetterHeaders.consumerGroup] === service.env.KAFKA_GROUP_ID,
        { timeoutMs: 10_000 },
      );
      expect(dead.raw).toBe('not json at all');
    } finally {
      await service.close();
      if (!restored) await setDlqMaxMessageBytes(DEFAULT_MAX_MESSAGE_BYTES);
    }
  });
});

/** An outbox entry as the platform writes one, on the agreements topic (the widgets' consumer counts it per partner). */
const entry = (partnerId: string, key: string, padding = 0) => {
  const envelope = createEnvelope({ type: 'AgreementStatusChanged', source: 'widgets', data: { partnerId, active: true, ...(padding && { note: 'x'.repeat(padding) }) } });
  return { eventId: envelope.eventId, topic: Topics.agreements, key, value: JSON.stringify(envelope), createdAt: new Date() };
};

// Producers outside the platform may compress (a Java producer's compression.type), and a platform team may set a
// topic's compression.type: the broker then writes the topic's batches with that codec, whatever the producer sent.
describe('batches compressed by the broker', () => {
  it.each(['snappy', 'lz4', 'zstd', 'gzip'])('consumes a topic the broker compresses with %s', async (codec) => {
    const service = await boot();
    try {
      await setTopicConfig(Topics.agreements, 'compression.type', codec);
      const db = service.env.MONGO_DB;
      const partnerId = `compressed-${codec}-${randomUUID()}`;
      await kafka.publishEvent(Topics.agreements, partnerId, { type: 'AgreementStatusChanged', data: { partnerId, active: true } });
      await eventually(async () => expect(await consumedCount(db, partnerId)).toBe(1), 30_000);
    } finally {
      await setTopicConfig(Topics.agreements, 'compression.type', 'producer');
      await service.close();
    }
  });
});

// An outside system writing with transactions (Kafka Streams or Flink exactly-once, Spring Kafka transactions): each
// transaction ends with a marker, which takes an offset and is no record to hand a consumer; an aborted transaction's
// records are not handed over either. KafkaJS moves past a marker fetched with the record before it, not past a fetch
// holding nothing else.
describe('a topic written by a transactional producer', () => {
  it("commits its group's offset past an aborted transaction at the partition's end: caught up, not behind", async () => {
    const service = await boot();
    const client = new Kafka({ brokers: process.env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING });
    const producer = client.producer({ transactionalId: `tx-${randomUUID()}`, idempotent: true, maxInFlightRequests: 1 });
    const admin = client.admin();
    await Promise.all([producer.connect(), admin.connect()]);
    try {
      // Echoes (the widget service's handler does nothing with one, and publishes nothing after it): no later message
      // of the group's moves its offsets on.
      const partnerId = `${ECHO_PREFIX}transactional-${randomUUID()}`;
      const send = async (end: 'commit' | 'abort') => {
        const transaction = await producer.transaction();
        const [sent] = await transaction.send({
          topic: Topics.agreements,
          messages: [{ key: partnerId, value: JSON.stringify(createEnvelope({ source: 'test', type: 'AgreementStatusChanged', data: { partnerId, active: true } })) }],
        });
        await transaction[end]();
        return sent;
      };
      const committed = async (partition: number) => {
        const [{ partitions }] = await admin.fetchOffsets({ groupId: service.env.KAFKA_GROUP_ID, topics: [Topics.agreements] });
        return Number(partitions.find((p) => p.partition === partition)?.offset);
      };
      // A committed transaction, handled: its record at k, its marker at k + 1. (Other suites of the run may write the
      // topic too: offsets are compared as "at least".)
      const handled = await send('commit');
      await eventually(async () => expect(await committed(handled.partition)).toBeGreaterThanOrEqual(Number(handled.baseOffset) + 2), 30_000);

      // Then one aborted: its record at m, its marker at m + 1; nothing of it is handed over. The group must get past
      // the marker (m + 2), with nothing else to hand over after it.
      const aborted = await send('abort');
      expect(aborted.partition).toBe(handled.partition);
      await eventually(async () => expect(await committed(handled.partition)).toBeGreaterThanOrEqual(Number(aborted.baseOffset) + 2), 15_000);
    } finally {
      await Promise.all([producer.disconnect(), admin.disconnect()]);
      await service.close();
    }
  });
});

describe('outbox entries larger than the broker accepts', () => {
  it('sets one too large to send aside in outboxParked, publishes the others in sends the broker accepts, and goes on', async () => {
    const service = await boot();
    try {
      const db = service.env.MONGO_DB;
      const run = randomUUID();
      // Outbox entries as the platform writes them, on several keys (partitions); one larger than the broker accepts
      // (message.max.bytes, 1 MB), and three of 400 kB on one key (1.2 MB together: too much for one send).
      const [before, huge, after] = [entry(`before-${run}`, `k1-${run}`), entry(`huge-${run}`, `k1-${run}`, 1_200_000), entry(`after-${run}`, `k1-${run}`)];
      const other = entry(`other-${run}`, `k2-${run}`);
      const large = [1, 2, 3].map((i) => entry(`large${i}-${run}`, `k3-${run}`, 400_000));
      const widgets = mongo.db(db).collection<{ _id: string; outbox?: unknown[]; outboxParked?: Array<Record<string, unknown>> }>('widgets');
      await widgets.insertMany([
        { _id: `a-${run}`, outbox: [before, huge, after] },
        { _id: `b-${run}`, outbox: [other] },
        { _id: `c-${run}`, outbox: large },
      ]);

      // One drain of everything (as at start or shutdown): it neither fails nor stops at the large entries.
      await service.app.get(OutboxRelay).flush();
      // Published: the service's own consumer counts the small ones as they come back; every outbox is empty (an
      // entry is removed only once the broker acknowledged it).
      for (const published of ['before', 'after', 'other']) {
        await eventually(async () => expect(await consumedCount(db, `${published}-${run}`)).toBe(1), 30_000);
      }
      const a = await widgets.findOne({ _id: `a-${run}` });
      expect(a?.outbox ?? []).toEqual([]);
      expect(a?.outboxParked).toHaveLength(1);
      expect(a?.outboxParked?.[0]).toMatchObject({ eventId: huge.eventId, topic: Topics.agreements, key: huge.key, value: huge.value });
      expect(String(a?.outboxParked?.[0].reason)).toMatch(/^record of \d+ bytes exceeds OUTBOX_MAX_RECORD_BYTES \(1000000\)$/);
      for (const id of [`b-${run}`, `c-${run}`]) {
        const doc = await widgets.findOne({ _id: id });
        expect(doc?.outbox ?? []).toEqual([]);
        expect(doc).not.toHaveProperty('outboxParked');
      }
      expect(await consumedCount(db, `huge-${run}`)).toBe(0);

      // And the relay goes on: a later write's event is published (and removed from its document).
      const written = await fetch(`${service.url}/v1/widgets/later-${run}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-operator-key': service.env.OPERATOR_TOKEN },
        body: JSON.stringify({ active: true }),
      });
      expect(written.status).toBe(200);
      await eventually(async () => expect((await widgets.findOne({ _id: `later-${run}` }))?.outbox ?? []).toEqual([]), 30_000);
    } finally {
      await service.close();
    }
  });
});

describe('a topic whose max.message.bytes is below OUTBOX_MAX_RECORD_BYTES', () => {
  it('sends a refused run again one by one: the entries the broker takes are published, the one it refuses alone is parked with its reason, and the relay goes on', async () => {
    const run = randomUUID();
    const service = await boot();
    let lowered = false;
    try {
      const db = service.env.MONGO_DB;
      const widgets = mongo.db(db).collection<{ _id: string; outbox?: unknown[]; outboxParked?: Array<Record<string, unknown>> }>('widgets');
      // Under OUTBOX_MAX_RECORD_BYTES (1 MB), so one run; above the topic's 300 kB: one record of 400 kB, and three
      // of 120 kB on one key (one partition's batch of 360 kB).
      const [before, big, after] = [entry(`before-${run}`, `k1-${run}`), entry(`big-${run}`, `k1-${run}`, 400_000), entry(`after-${run}`, `k1-${run}`)];
      const batch = [1, 2, 3].map((i) => entry(`batch${i}-${run}`, `k2-${run}`, 120_000));
      await setDlqMaxMessageBytes('300000', Topics.agreements);
      lowered = true;
      await widgets.insertMany([
        { _id: `a-${run}`, outbox: [before, big, after] },
        { _id: `b-${run}`, outbox: batch },
      ]);
      await service.app.get(OutboxRelay).flush();
      for (const published of ['before', 'after', 'batch1', 'batch2', 'batch3']) {
        await eventually(async () => expect(await consumedCount(db, `${published}-${run}`)).toBe(1), 30_000);
      }
      const a = await widgets.findOne({ _id: `a-${run}` });
      expect(a?.outbox ?? []).toEqual([]);
      expect(a?.outboxParked).toEqual([expect.objectContaining({ eventId: big.eventId, reason: expect.stringMatching(/^refused by the broker as too large \(MESSAGE_TOO_LARGE\)/) })]);
      expect((await widgets.findOne({ _id: `b-${run}` }))?.outbox ?? []).toEqual([]);
      expect(await consumedCount(db, `big-${run}`)).toBe(0);

      // An operator's requeue leaves it parked (it fits OUTBOX_MAX_RECORD_BYTES, but the broker would refuse it again)
      // until told the topic's limit was raised.
      const requeue = async (query = '') => {
        const answer = await fetch(`${service.url}/v1/operator/outbox/parked/requeue${query}`, { method: 'POST', headers: { 'x-operator-key': service.env.OPERATOR_TOKEN } });
        return { status: answer.status, body: await answer.json() };
      };
      expect(await requeue()).toEqual({ status: 200, body: { requeued: 0, tooLarge: 0, refusedByBroker: 1 } });
      expect((await widgets.findOne({ _id: `a-${run}` }))?.outboxParked).toHaveLength(1);
      await setDlqMaxMessageBytes(DEFAULT_MAX_MESSAGE_BYTES, Topics.agreements);
      lowered = false;
      expect(await requeue('?brokerRefused=true')).toEqual({ status: 200, body: { requeued: 1, tooLarge: 0, refusedByBroker: 0 } });
      await eventually(async () => expect(await consumedCount(db, `big-${run}`)).toBe(1), 30_000);
      await eventually(async () => expect(await widgets.findOne({ _id: `a-${run}` })).toMatchObject({ outbox: [], outboxParked: [] }), 30_000);
    } finally {
      await service.close();
      if (lowered) await setDlqMaxMessageBytes(DEFAULT_MAX_MESSAGE_BYTES, Topics.agreements);
    }
  });
});

describe('parked outbox entries, for an operator', () => {
  it('lists them, leaves them while they are still too large, and puts them back once the limit is raised: published then, once', async () => {
    const run = randomUUID();
    const huge = entry(`huge-${run}`, `k-${run}`, 1_200_000);
    const second = entry(`huge2-${run}`, `k-${run}`, 1_200_000);
    let service = await boot();
    const db = service.env.MONGO_DB;
    const widgets = mongo.db(db).collection<{ _id: string; outbox?: unknown[]; outboxParked?: unknown[] }>('widgets');
    const operator = async (method: string, path: string, key = service.env.OPERATOR_TOKEN) => {
      const answer = await fetch(`${service.url}${path}`, { method, headers: key ? { 'x-operator-key': key } : {} });
      return { status: answer.status, body: (await answer.json()) as any };
    };
    let raised = false;
    try {
      await widgets.insertOne({ _id: `p-${run}`, outbox: [huge, second] });
      await service.app.get(OutboxRelay).flush();
      const listed = await operator('GET', '/v1/operator/outbox/parked?limit=1');
      expect(listed.status).toBe(200);
      expect(listed.body).toEqual({
        items: [
          expect.objectContaining({ collection: 'widgets', documentId: `p-${run}`, eventId: huge.eventId, topic: Topics.agreements, key: huge.key, reason: expect.stringMatching(/exceeds OUTBOX_MAX_RECORD_BYTES/) }),
        ],
        more: true,
      });
      const all = await operator('GET', '/v1/operator/outbox/parked');
      expect(all.body.items.map((item: { eventId: string }) => item.eventId)).toEqual([huge.eventId, second.eventId]);
      expect(all.body.more).toBe(false);
      expect(listed.body.items[0].bytes).toBeGreaterThan(1_200_000);
      expect((await operator('GET', '/v1/operator/outbox/parked', '')).status).toBe(401);
      expect((await operator('POST', '/v1/operator/outbox/parked/requeue', 'wrong')).status).toBe(401);
      // The limit as it is: nothing fits, nothing moves.
      expect(await operator('POST', '/v1/operator/outbox/parked/requeue')).toEqual({ status: 200, body: { requeued: 0, tooLarge: 2, refusedByBroker: 0 } });
      expect((await widgets.findOne({ _id: `p-${run}` }))?.outboxParked).toHaveLength(2);

      // The operator raises the topic's limit and the service's, and restarts it.
      await service.close();
      await setDlqMaxMessageBytes('2000000', Topics.agreements);
      raised = true;
      service = await boot({ MONGO_DB: db, OUTBOX_MAX_RECORD_BYTES: '1500000' });
      expect(await operator('POST', '/v1/operator/outbox/parked/requeue')).toEqual({ status: 200, body: { requeued: 2, tooLarge: 0, refusedByBroker: 0 } });
      await eventually(async () => expect(await consumedCount(db, `huge-${run}`)).toBe(1), 30_000);
      await eventually(async () => expect(await consumedCount(db, `huge2-${run}`)).toBe(1), 30_000);
      await eventually(async () => expect(await widgets.findOne({ _id: `p-${run}` })).toMatchObject({ outbox: [], outboxParked: [] }), 30_000);
      expect(await operator('POST', '/v1/operator/outbox/parked/requeue')).toEqual({ status: 200, body: { requeued: 0, tooLarge: 0, refusedByBroker: 0 } });
      expect((await operator('GET', '/v1/operator/outbox/parked')).body).toEqual({ items: [], more: false });
    } finally {
      await service.close();
      if (raised) await setDlqMaxMessageBytes(DEFAULT_MAX_MESSAGE_BYTES, Topics.agreements);
    }
  });
});

/** A service that only produces: no consumer whose crash would flag the broker as gone. */
@Module({ imports: [PlatformModule.forService({ name: 'producer-only' })] })
class ProducerOnlyModule {}

/** `service_dependency_up` per dependency, as a scrape of /metrics reads it. */
async function dependencyUp(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Object.fromEntries(
    [...text.matchAll(/^service_dependency_up\{([^}]*)\} (\S+)$/gm)].map(([, labels, value]) => [/dependency="(\w+)"/.exec(labels)?.[1], Number(value)]),
  );
}

describe('readiness', () => {
  it('goes not ready within seconds when the broker goes away after start, and stays live', async () => {
    const dataDir = runDir('lost-broker');
    const broker = await startKafka({ root: PROJECT_ROOT, dataDir });
    let service: RunningService | undefined;
    try {
      service = await bootService(ProducerOnlyModule, {
        name: 'producer_only',
        env: { ...issuer.env(), KAFKA_BROKERS: broker.brokers.join(',') },
      });
      const url = service.url;
      await eventually(async () => expect((await fetch(`${url}/health/ready`)).status).toBe(200), 30_000);
      // What a scrape tells an alert (DependencyUnreachable): the same checks, per dependency.
      expect(await dependencyUp(url)).toEqual({ kafka: 1, mongodb: 1 });
      await broker.stop();
      // Not ready within 10 s of losing the broker (the eventually fails the test otherwise).
      await eventually(async () => expect((await fetch(`${url}/health/ready`)).status).toBe(503), 10_000);
      const response = await fetch(`${url}/health/ready`);
      expect(JSON.stringify(await response.json())).toMatch(/"broker":false/);
      expect((await fetch(`${url}/health/live`)).status).toBe(200);
      expect(await dependencyUp(url)).toEqual({ kafka: 0, mongodb: 1 });
    } finally {
      await service?.close().catch(() => undefined);
      await broker.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('goes not ready as soon as shutdown begins, while its consumer still runs (a load balancer stops sending then), and stays live', async () => {
    const service = await boot();
    try {
      await eventually(async () => expect((await fetch(`${service.url}/health/ready`)).status).toBe(200), 30_000);
      // What closeService does first (SIGTERM): the consumers are stopped after it, and wait for what is in flight.
      service.app.get(BackgroundWork, { strict: false }).requestStop();
      const response = await fetch(`${service.url}/health/ready`);
      expect(response.status).toBe(503);
      const body = (await response.json()) as { details: Record<string, { status: string }> };
      expect(body.details).toMatchObject({ shutdown: { status: 'down' }, kafka: { status: 'up' }, mongodb: { status: 'up' } });
      expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
    } finally {
      await service.close();
    }
  });
});
