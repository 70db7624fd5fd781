/**
 * Starts the local Kafka 3.9.1 broker (single-node KRaft, jars from Maven Central) and checks it
 * end to end with kafkajs: idempotent producer with acks=-1, auto-created topic with the default
 * 6 partitions, consumer group reading from the beginning, per-key order, clean shutdown.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Consumer, Kafka, logLevel, Partitioners, Producer } from 'kafkajs';
import { ensureKafkaJars, KafkaServer, startKafka } from './kafka';
import { tcpReachable, waitFor } from './process';

jest.setTimeout(120_000);

const ROOT = resolve(__dirname, '../../../..');
const timings: string[] = [];

describe('local Kafka broker (KRaft, single node)', () => {
  let server: KafkaServer;
  let dataDir: string;
  let kafka: Kafka;
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'kafka-spec-'));
    const log = (line: string) => timings.push(`  log: ${line}`);

    let t = Date.now();
    await ensureKafkaJars(ROOT, log);
    timings.push(`jars ready (Maven fetch or cache hit): ${Date.now() - t} ms`);

    t = Date.now();
    server = await startKafka({ root: ROOT, dataDir, log });
    timings.push(`startKafka with cached jars (format + JVM start + readiness probe): ${Date.now() - t} ms`);

    kafka = new Kafka({ clientId: 'kafka-spec', brokers: server.brokers, logLevel: logLevel.NOTHING });
  }, 600_000); // a cold Maven fetch of ~46 MB

  afterAll(async () => {
    await consumer?.disconnect().catch(() => {});
    await producer?.disconnect().catch(() => {});
    await server?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    // eslint-disable-next-line no-console
    console.log(`Kafka figures:\n  ${timings.join('\n  ')}`);
  });

  it('exposes one PLAINTEXT listener on loopback', () => {
    expect(server.brokers).toEqual([expect.stringMatching(/^127\.0\.0\.1:\d+$/)]);
    const props = readFileSync(join(dataDir, 'server.properties'), 'utf8');
    expect(props).toContain('process.roles=broker,controller');
    expect(props).toContain(`advertised.listeners=PLAINTEXT://${server.brokers[0]}`);
  });

  it('produces idempotently with acks=-1 to an auto-created topic, and a consumer group reads it back in order per key', async () => {
    const topic = `spec.kafka.${Date.now()}`;
    const keys = ['partner-1', 'partner-2', 'partner-3', 'partner-4'];
    const perKey = 5;

    producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    let t = Date.now();
    // Interleave the keys and send one message per request, so that order is really exercised.
    for (let i = 0; i < perKey; i++) {
      for (const key of keys) {
        const [meta] = await producer.send({ topic, acks: -1, messages: [{ key, value: `${key}#${i}` }] });
        expect(meta.errorCode).toBe(0);
      }
    }
    // And one batch of several keys in one request.
    await producer.send({
      topic,
      acks: -1,
      messages: keys.map((key) => ({ key, value: `${key}#${perKey}`, headers: { batch: 'yes' } })),
    });
    timings.push(`produced ${keys.length * (perKey + 1)} messages (first send auto-creates the topic): ${Date.now() - t} ms`);

    const admin = kafka.admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      expect(topics[0].partitions).toHaveLength(6);
      expect(topics[0].partitions.every((p) => p.leader === 1 && p.replicas.length === 1)).toBe(true);
    } finally {
      await admin.disconnect();
    }

    const received: { key: string; value: string; partition: number; offset: number; batch?: string }[] = [];
    const groupId = `spec-group-${Date.now()}`;
    consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 500 });
    t = Date.now();
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        received.push({
          key: message.key!.toString(),
          value: message.value!.toString(),
          partition,
          offset: Number(message.offset),
          batch: message.headers?.batch?.toString(),
        });
      },
    });
    const total = keys.length * (perKey + 1);
    await waitFor(`${total} messages`, async () => received.length >= total, { timeoutMs: 30_000 });
    timings.push(`consumer group joined and read ${total} messages from the beginning: ${Date.now() - t} ms`);
    expect(received).toHaveLength(total);

    for (const key of keys) {
      const mine = received.filter((m) => m.key === key);
      // Values in production order, all on one partition, offsets increasing.
      expect(mine.map((m) => m.value)).toEqual(Array.from({ length: perKey + 1 }, (_, i) => `${key}#${i}`));
      expect(new Set(mine.map((m) => m.partition)).size).toBe(1);
      const offsets = mine.map((m) => m.offset);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
      expect(mine[perKey].batch).toBe('yes');
    }

    // The group commits its offsets on the broker (__consumer_offsets works), covering every message.
    const offsetsAdmin = kafka.admin();
    await offsetsAdmin.connect();
    try {
      await waitFor(
        `committed offsets of ${groupId} to reach ${total}`,
        async () => {
          const [{ partitions }] = await offsetsAdmin.fetchOffsets({ groupId, topics: [topic] });
          const sum = partitions.reduce((acc, p) => acc + Math.max(0, Number(p.offset)), 0);
          if (sum !== total) throw new Error(`committed ${sum} on ${partitions.length} partitions`);
          return partitions.length === 6;
        },
        { timeoutMs: 15_000 },
      );
    } finally {
      await offsetsAdmin.disconnect();
    }
    await consumer.disconnect();
    consumer = undefined;
  });

  it('stops with a controlled shutdown, after which the port refuses connections', async () => {
    await consumer?.disconnect();
    consumer = undefined;
    await producer?.disconnect();
    producer = undefined;

    const [host, port] = server.brokers[0].split(':');
    expect(await tcpReachable(host, Number(port))).toBe(true);
    const t = Date.now();
    await server.stop();
    timings.push(`stop (SIGTERM until the JVM exited): ${Date.now() - t} ms`);
    expect(await tcpReachable(host, Number(port))).toBe(false);
    const brokerLog = readFileSync(join(dataDir, 'kafka.log'), 'utf8');
    expect(brokerLog).toMatch(/Beginning controlled shutdown[\s\S]*\[BrokerServer id=1\] shut down completed/);
  });
});
