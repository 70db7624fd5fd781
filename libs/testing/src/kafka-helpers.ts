import { createEnvelope, Envelope } from '@lib/contracts';
import { createMissingTopics, endOffsets, partitionsBehind, PENDING_OUTBOX, producerPartition, registerCompressionCodecs } from '@lib/messaging';
import { randomUUID } from 'node:crypto';
import { Consumer, IHeaders, Kafka, KafkaConfig, logLevel, Partitioners, Producer } from 'kafkajs';

// The tests' clients read what the services read: a topic a test had the broker compress (snappy, lz4, zstd) stays so.
registerCompressionCodecs();

export interface ReceivedMessage<T = unknown> {
  topic: string;
  partition: number;
  offset: string;
  key?: string;
  headers: Record<string, string>;
  raw: string;
  /** The parsed envelope, when the value is JSON. */
  envelope?: Envelope<T>;
}

function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k, String(v)]));
}

/** Talks to the real broker as outside systems do: publish messages, and watch topics. */
export class TestKafka {
  private readonly kafka: Kafka;
  private producer?: Producer;
  private producerReady?: Promise<void>;
  private readonly consumers: Consumer[] = [];

  /** `connection`: TLS and SASL (an operator's tool on a secured cluster: kafkaConnectionFromEnv of @lib/platform). */
  constructor(brokers = (process.env.KAFKA_BROKERS ?? '').split(','), connection: Omit<KafkaConfig, 'brokers'> = {}) {
    this.kafka = new Kafka({ clientId: `test-${randomUUID().slice(0, 8)}`, brokers, logLevel: logLevel.NOTHING, ...connection });
  }

  /**
   * One key of `keys` per partition of `topic` they land on (KafkaJS's default partitioner, murmur2 as the Java
   * client's and the services'): a sentinel on each reaches every partition they do, with one message each.
   */
  async keyPerPartition(topic: string, keys: string[]): Promise<string[]> {
    const admin = this.kafka.admin();
    await admin.connect();
    let partitions: number;
    try {
      partitions = (await admin.fetchTopicOffsets(topic)).length;
    } finally {
      await admin.disconnect();
    }
    const byPartition = new Map<number, string>();
    for (const key of keys) {
      const partition = producerPartition(topic, key, partitions);
      if (!byPartition.has(partition)) byPartition.set(partition, key);
    }
    return [...byPartition.values()];
  }

  async publish(topic: string, key: string, value: unknown, headers?: Record<string, string>): Promise<void> {
    // One connection, also when the first publishes run at the same time.
    this.producerReady ??= (async () => {
      const producer = this.kafka.producer({ allowAutoTopicCreation: true, createPartitioner: Partitioners.DefaultPartitioner });
      try {
        await producer.connect();
      } catch (error) {
        this.producerReady = undefined; // the next publish tries again
        await producer.disconnect().catch(() => undefined);
        throw error;
      }
      this.producer = producer;
    })();
    await this.producerReady;
    await this.producer!.send({
      topic,
      acks: -1,
      messages: [{ key, value: typeof value === 'string' ? value : JSON.stringify(value), headers }],
    });
  }

  /** Publishes a well-formed envelope, as an outside system (eligibility, agreements, validator) would. */
  async publishEvent<T>(
    topic: string,
    key: string,
    event: { type: string; data: T; source?: string; eventId?: string; partnerId?: string; locationId?: string; occurredAt?: Date },
  ): Promise<Envelope<T>> {
    const envelope = createEnvelope({ source: 'test', ...event });
    await this.publish(topic, key, envelope);
    return envelope;
  }

  /** Creates topics that do not exist yet (as services do at start), so subscribing never races auto-creation. */
  async ensureTopics(topics: string[]): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      await createMissingTopics(admin, topics, 6);
    } finally {
      await admin.disconnect();
    }
  }

  /** Starts reading `topics` from the beginning; everything received is kept in `messages`. */
  async watch(topics: string[]): Promise<TopicWatch> {
    await this.ensureTopics(topics);
    const consumer = this.kafka.consumer({ groupId: `watch-${randomUUID()}`, allowAutoTopicCreation: true });
    this.consumers.push(consumer);
    const watch = new TopicWatch();
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    let joined!: () => void;
    const ready = new Promise<void>((r) => (joined = r));
    consumer.on(consumer.events.GROUP_JOIN, () => joined());
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const raw = message.value?.toString() ?? '';
        let envelope: Envelope | undefined;
        try {
          envelope = JSON.parse(raw);
        } catch {
          envelope = undefined;
        }
        watch.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key?.toString(),
          headers: headersToStrings(message.headers),
          raw,
          envelope,
        });
      },
    });
    await ready;
    return watch;
  }

  async close(): Promise<void> {
    await Promise.all(this.consumers.map((c) => c.disconnect().catch(() => undefined)));
    await this.producerReady?.catch(() => undefined); // a connection under way: closed once made
    await this.producer?.disconnect().catch(() => undefined);
  }
}

export class TopicWatch {
  readonly messages: ReceivedMessage[] = [];
  private waiters: Array<() => void> = [];

  push(message: ReceivedMessage): void {
    this.messages.push(message);
    this.waiters.forEach((w) => w());
  }

  find<T = unknown>(predicate: (m: ReceivedMessage<T>) => boolean): ReceivedMessage<T>[] {
    return (this.messages as ReceivedMessage<T>[]).filter(predicate);
  }

  /** Waits until `count` messages match, and returns them; fails with what was seen otherwise. */
  async waitFor<T = unknown>(
    predicate: (m: ReceivedMessage<T>) => boolean,
    { count = 1, timeoutMs = 20_000 }: { count?: number; timeoutMs?: number } = {},
  ): Promise<ReceivedMessage<T>[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.find(predicate);
      if (found.length >= count) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        const seen = this.messages.slice(-10).map((m) => `${m.topic} ${m.envelope?.type ?? m.raw.slice(0, 80)}`);
        throw new Error(`Expected ${count} matching message(s), found ${found.length}. Last seen:\n${seen.join('\n')}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 500));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.waiters = [];
    }
  }

  ofType<T = unknown>(type: string, filter: (m: ReceivedMessage<T>) => boolean = () => true): ReceivedMessage<T>[] {
    return this.find<T>((m) => m.envelope?.type === type && filter(m));
  }
}

/**
 * Waits until consumer group `groupId` has committed every message on `topics` up to their end offsets as they are
 * now: what was published before this call has been handled. For "nothing changed" checks, which a fixed sleep would
 * pass vacuously when the consumer lags.
 */
export async function groupCaughtUp(groupId: string, topics: string[], { timeoutMs = 30_000, brokers = process.env.KAFKA_BROKERS!.split(',') } = {}): Promise<void> {
  const kafka = new Kafka({ clientId: `caught-up-${groupId}`, brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    // Right after a topic is created its partitions may not have a leader yet: ask again for a while.
    const ends = await retryRetriable(() => endOffsets(admin, topics));
    await eventually(async () => {
      const behind = await partitionsBehind(admin, groupId, ends);
      if (behind.length) throw new Error(`${groupId} has not handled everything on ${behind.join(', ')} yet`);
    }, timeoutMs, 100);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Commits the end of every partition of `topics` for a consumer group that has not started yet, so the service
 * skips the history other runs left on a shared broker. One group join for all topics (well under a second), where
 * kafkajs admin.setOffsets joins the group once per topic and takes about five seconds each (a platform of five
 * services and twelve topics spent five minutes starting).
 */
export async function startGroupAtEnd(groupId: string, topics: string[], brokers = process.env.KAFKA_BROKERS!.split(',')): Promise<void> {
  await new TestKafka(brokers).ensureTopics(topics);
  const kafka = new Kafka({ clientId: `at-end-${groupId}`, brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  let ends: Array<{ topic: string; partitions: Array<{ partition: number; high: string }> }>;
  try {
    // Right after a topic is created its partitions may not have a leader yet ("not the leader for that
    // topic-partition", retriable): ask again for a while.
    ends = await Promise.all(topics.map(async (topic) => ({ topic, partitions: await retryRetriable(() => admin.fetchTopicOffsets(topic)) })));
  } finally {
    await admin.disconnect();
  }
  // A short fetch wait: disconnecting waits for the fetch in flight (5 s by default).
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 50 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: false });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => undefined });
    consumer.pause(topics.map((topic) => ({ topic })));
    await joined;
    await consumer.commitOffsets(ends.flatMap(({ topic, partitions }) => partitions.map(({ partition, high }) => ({ topic, partition, offset: high }))));
  } finally {
    await consumer.disconnect();
  }
}

async function retryRetriable<T>(call: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!(error as { retriable?: boolean }).retriable || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Polls until `check` stops throwing (for HTTP reads that become true once events are processed). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

/**
 * Everything a service has written to the outboxes of the documents `filter` selects has reached `watch` on `topic`:
 * those outboxes are empty (the relay removes an entry only once the broker acknowledged it), then a sentinel of a
 * type nobody handles, published on the partition of each key, has come back through the watch (a partition is read
 * in order). Waiting for some later event of the service instead would not do: the relay keeps one document's events
 * in order, not strictly those of different documents. A negative check ("nothing more was published") made after
 * this can fail; one made after a fixed pause may just be early.
 */
export async function outboxSettled(options: {
  collection: { countDocuments(filter: Record<string, unknown>): Promise<number> };
  filter: Record<string, unknown>;
  kafka: TestKafka;
  watch: TopicWatch;
  topic: string;
  keys: string[];
}): Promise<void> {
  const { collection, filter, kafka, watch, topic, keys } = options;
  await eventually(async () => {
    const unpublished = await collection.countDocuments({ ...filter, ...PENDING_OUTBOX });
    if (unpublished) throw new Error(`${unpublished} document(s) still hold unpublished events`);
  }, 30_000);
  const sentinels = await Promise.all((await kafka.keyPerPartition(topic, [...new Set(keys)])).map((key) => kafka.publishEvent(topic, key, { type: 'TestSentinel', source: 'test', data: { key } })));
  const ids = new Set(sentinels.map((s) => s.eventId));
  await watch.waitFor((m) => m.topic === topic && ids.has(m.envelope?.eventId ?? ''), { count: ids.size, timeoutMs: 30_000 });
}
