import { createEnvelope, deadLetterTopic, Topics } from '@lib/contracts';
import { EachBatchPayload, Kafka, KafkaJSProtocolError, KafkaMessage } from 'kafkajs';
import { ConsumedEvent } from './consumed-event';
import { EventProducer } from './event-producer';
import { claimedTrace, KafkaEventServer } from './kafka-event.server';
import { Trace } from './context';
import { MessagingMetrics } from './metrics';
import { OutboxRelay } from './outbox-relay';
import { ProcessedEventLedger } from './processed-event-ledger';
import { TopicAdmin } from './topic-admin';

function rebalancing(): Error {
  const cause = Object.assign(new Error('The group is rebalancing'), { type: 'REBALANCE_IN_PROGRESS', code: 27, retriable: false });
  return new KafkaJSProtocolError(cause);
}

function messages(count: number): KafkaMessage[] {
  return Array.from({ length: count }, (_, i) => ({
    offset: String(i),
    key: Buffer.from(`k${i}`),
    value: Buffer.from(JSON.stringify(createEnvelope({ type: 'AgreementStatusChanged', source: 'test', data: { partnerId: `p${i}`, active: true } }))),
    timestamp: '0',
    attributes: 0,
    headers: {},
  }));
}

/** The server with its collaborators faked: only handleBatch is exercised. */
function server(handle: (event: ConsumedEvent) => Promise<void>) {
  const ledger = { processed: async () => new Set<string>(), recordMany: jest.fn(async () => undefined), recordDeadLetter: jest.fn(async () => undefined) };
  const server = new KafkaEventServer(
    {} as Kafka,
    { serviceName: 'unit', brokers: [], keysConsumedConcurrently: 1 },
    {} as EventProducer,
    ledger as unknown as ProcessedEventLedger,
    {} as OutboxRelay,
    {} as TopicAdmin,
    new MessagingMetrics(),
  );
  server.addHandler(Topics.agreements, handle, true);
  return server;
}

/**
 * The server with a producer that records what it sends (dead letters) and a ledger that holds nothing, `options`
 * beside the defaults.
 */
function recordingServer(options: Record<string, unknown> = {}) {
  const sent: Array<{ topic: string; messages: Array<{ value: unknown; headers: Record<string, unknown> }> }> = [];
  const producer = { send: jest.fn(async (topic: string, messages: never[]) => void sent.push({ topic, messages })) };
  const ledger = { processed: async () => new Set<string>(), recordMany: jest.fn(async () => undefined), recordDeadLetter: jest.fn(async () => undefined) };
  const subject = new KafkaEventServer(
    {} as Kafka,
    { serviceName: 'unit', brokers: [], keysConsumedConcurrently: 1, ...options },
    producer as unknown as EventProducer,
    ledger as unknown as ProcessedEventLedger,
    {} as OutboxRelay,
    { ensureTopics: async () => undefined } as unknown as TopicAdmin,
    new MessagingMetrics(),
  );
  return { subject, sent, ledger };
}

/**
 * The batch payload as KafkaJS gives it: resolved offsets are uncommitted until committed; `commitOffsetsIfNecessary`
 * commits the offsets it is given, and nothing without them, so that what a chunk commits is only what the handler
 * passes (the consumer runs with autoCommitThreshold 1, under which KafkaJS would commit every resolved offset anyway:
 * the chunk commits must not lean on that). `committed`: the offsets committed, as Kafka stores them (the next one to
 * read).
 */
function payload(batch: KafkaMessage[], heartbeat: () => Promise<void>) {
  const resolved: string[] = [];
  const committed: string[] = [];
  const uncommitted = () => {
    const last = resolved[resolved.length - 1];
    const next = last === undefined ? undefined : String(Number(last) + 1);
    return { topics: next === undefined || next === committed[committed.length - 1] ? [] : [{ topic: Topics.agreements, partitions: [{ partition: '0', offset: next }] }] };
  };
  const commits = jest.fn(async (offsets?: ReturnType<typeof uncommitted>) => {
    for (const { partitions } of offsets?.topics ?? []) committed.push(...partitions.map((p) => p.offset));
  });
  const value = {
    batch: { topic: Topics.agreements, partition: 0, messages: batch },
    resolveOffset: (offset: string) => resolved.push(offset),
    heartbeat,
    commitOffsetsIfNecessary: commits,
    uncommittedOffsets: uncommitted,
    isRunning: () => true,
    isStale: () => false,
  } as unknown as EachBatchPayload;
  return { value, resolved, commits, committed };
}

type WithBatch = { handleBatch(payload: EachBatchPayload): Promise<void> };

describe('KafkaEventServer during a rebalance', () => {
  it('stops after the chunk when the heartbeat between chunks says the group is rebalancing', async () => {
    const handled: string[] = [];
    const subject = server(async (event) => void handled.push(event.offset));
    const { value, resolved, commits, committed } = payload(messages(450), async () => Promise.reject(rebalancing()));

    // Thrown to KafkaJS, which rejoins the group on it.
    await expect((subject as unknown as WithBatch).handleBatch(value)).rejects.toMatchObject({ type: 'REBALANCE_IN_PROGRESS' });

    // The first chunk (200 messages) is done and committed; the rest is left to whoever owns the partition now.
    expect(handled).toHaveLength(200);
    expect(resolved).toEqual(['199']);
    expect(commits).toHaveBeenCalledTimes(1);
    expect(committed).toEqual(['200']);
  });

  it('starts no further message once a heartbeat in a handler says the group is rebalancing', async () => {
    const handled: string[] = [];
    let beats = 0;
    const subject = server(async (event) => {
      handled.push(event.offset);
      if (event.offset === '2') await event.heartbeat().catch(() => undefined);
    });
    const { value, resolved, commits, committed } = payload(messages(10), async () => {
      beats += 1;
      throw rebalancing();
    });

    await expect((subject as unknown as WithBatch).handleBatch(value)).rejects.toMatchObject({ type: 'REBALANCE_IN_PROGRESS' });

    expect(beats).toBe(1);
    // The message whose handler saw the rebalance finishes; nothing after it starts; what is done is committed.
    expect(handled).toEqual(['0', '1', '2']);
    expect(resolved).toEqual(['2']);
    expect(commits).toHaveBeenCalledTimes(1);
    expect(committed).toEqual(['3']);
  });

  // KafkaJS sends a heartbeat at most once per interval: a batch fetched before the rebalance, taken next, would have
  // run a whole chunk (and committed it) before its own heartbeat could tell.
  it("stops the lane's other batches at once, until the consumer has joined the group again", async () => {
    const handled: string[] = [];
    const subject = server(async (event) => void handled.push(event.offset));
    const lane = { name: '', groupId: 'unit', topics: [Topics.agreements], running: true, restartDelay: 500 };
    (subject as unknown as { laneOfTopic: Map<string, typeof lane> }).laneOfTopic.set(Topics.agreements, lane);
    // The lane's consumer started as start() starts it, so that its own GROUP_JOIN listener is what clears the refusal.
    const listeners = new Map<string, () => void>();
    const consumer = { events: { GROUP_JOIN: 'join', CRASH: 'crash', STOP: 'stop' }, on: (event: string, listener: () => void) => void listeners.set(event, listener), connect: async () => undefined, subscribe: async () => undefined, run: async () => undefined };
    Object.assign(subject, { kafka: { consumer: () => consumer }, producer: { connect: async () => undefined }, admin: { ensureTopics: async () => undefined } });
    await (subject as unknown as { start(l: typeof lane): Promise<void> }).start(lane);
    const first = payload(messages(250), async () => Promise.reject(rebalancing()));
    await expect((subject as unknown as WithBatch).handleBatch(first.value)).rejects.toMatchObject({ type: 'REBALANCE_IN_PROGRESS' });
    expect(handled).toHaveLength(200);

    // The next batch: its heartbeats say nothing (within the interval), the lane's refusal stops it before any message.
    const next = payload(messages(5), async () => undefined);
    await expect((subject as unknown as WithBatch).handleBatch(next.value)).rejects.toMatchObject({ type: 'REBALANCE_IN_PROGRESS' });
    expect(handled).toHaveLength(200);
    expect(next.commits).not.toHaveBeenCalled();

    // Joined again (KafkaJS's GROUP_JOIN): batches are handled.
    listeners.get('join')!();
    await (subject as unknown as WithBatch).handleBatch(payload(messages(5), async () => undefined).value);
    expect(handled).toHaveLength(205);
  });
});

describe('KafkaEventServer with its ledger unreachable during a rebalance', () => {
  jest.setTimeout(20_000);
  it('stops retrying the ledger once a heartbeat says the group is rebalancing: nothing handled, nothing committed, the batch ends', async () => {
    const handled: string[] = [];
    let reads = 0;
    const ledger = { processed: async () => { reads += 1; throw new Error('connection refused'); }, recordMany: jest.fn(async () => undefined), recordDeadLetter: jest.fn(async () => undefined) };
    const subject = new KafkaEventServer(
      {} as Kafka,
      { serviceName: 'unit', brokers: [], keysConsumedConcurrently: 1, retryBackoffMs: 50 },
      {} as EventProducer,
      ledger as unknown as ProcessedEventLedger,
      {} as OutboxRelay,
      {} as TopicAdmin,
      new MessagingMetrics(),
    );
    subject.addHandler(Topics.agreements, async (event) => void handled.push(event.offset), true);
    const { value, commits } = payload(messages(5), async () => Promise.reject(rebalancing()));

    const started = Date.now();
    await expect((subject as unknown as WithBatch).handleBatch(value)).rejects.toMatchObject({ type: 'REBALANCE_IN_PROGRESS' });

    // The pacemaker's first beat (3 s) finds the rebalance; the retries stop there instead of going on with the outage.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(reads).toBeGreaterThan(1);
    expect(handled).toEqual([]);
    expect(commits).not.toHaveBeenCalled();
  });
});

describe('KafkaEventServer and a heartbeat failing otherwise (a broker restarting)', () => {
  // The coordinator moving answers GROUP_COORDINATOR_NOT_AVAILABLE: no fault of the event. Thrown into the handler, it
  // was retried as the handler's failure and, the heartbeat failing each time, dead-lettered: the event lost.
  it('does not fail the handler that called it: the event is handled once, nothing dead-lettered', async () => {
    const { subject, sent } = recordingServer({ maxAttempts: 2, retryBackoffMs: 1 });
    let done = 0;
    subject.addHandler(
      Topics.agreements,
      async (event) => {
        await event.heartbeat();
        done += 1;
      },
      true,
    );
    const coordinatorMoving = () => new KafkaJSProtocolError(Object.assign(new Error('The coordinator is not available'), { type: 'GROUP_COORDINATOR_NOT_AVAILABLE', code: 15, retriable: true }));
    const { value, resolved } = payload(messages(1), async () => Promise.reject(coordinatorMoving()));
    await (subject as unknown as WithBatch).handleBatch(value);
    expect(done).toBe(1);
    expect(sent).toEqual([]);
    expect(resolved).toEqual(['0']);
  });
});

describe('KafkaEventServer offset commits', () => {
  // Before the batch returns: a crash in the middle of a large batch redelivers only what was not done.
  it('commits each chunk of a batch when it is done, not only when the whole batch has returned', async () => {
    const subject = server(async () => undefined);
    const { value, committed } = payload(messages(450), async () => undefined);
    await (subject as unknown as WithBatch).handleBatch(value);
    expect(committed).toEqual(['200', '400', '450']);
  });
});

describe('KafkaEventServer and a type the contract does not know', () => {
  // SPEC 3: skipped, not dead-lettered; but a publisher's misspelt type would lose every event with only a counter to tell.
  it('skips it, counts it, and says so naming the type once a minute per topic', async () => {
    const handled: string[] = [];
    const subject = server(async (event) => void handled.push(event.envelope.type));
    const warn = jest.spyOn((subject as unknown as { logger: { warn(message: string): void } }).logger, 'warn').mockImplementation(() => undefined);
    const batch = messages(3).map((message, i) => {
      const envelope = JSON.parse(message.value!.toString());
      return { ...message, value: Buffer.from(JSON.stringify({ ...envelope, type: i === 1 ? 'AgreementStatusChanged' : 'AgreementStatusChange' })) };
    });
    await (subject as unknown as WithBatch).handleBatch(payload(batch, async () => undefined).value);
    expect(handled).toEqual(['AgreementStatusChanged']);
    const said = warn.mock.calls.map(([message]) => message).filter((message) => message.includes('does not know'));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain(`${Topics.agreements}: `);
    expect(said[0]).toContain('of type "AgreementStatusChange"');
    const metrics = (subject as unknown as { metrics: MessagingMetrics }).metrics;
    const skipped = (await metrics.consumed.get()).values.find((v) => v.labels.outcome === 'skipped_unknown_type' && v.labels.topic === Topics.agreements);
    expect(skipped?.value).toBe(2);
  });
});

describe('KafkaEventServer and the correlation id of a consumed event', () => {
  // What an event causes carries its correlation id (Trace): an outside system's made-up one would spread everywhere.
  it("hands the handler a UUID derived from the event's id in place of one that is not a UUID (the same on every delivery; not shared by events sending the same placeholder), and keeps a UUID", async () => {
    const seen: string[] = [];
    const subject = server(async (event) => void seen.push(event.envelope.correlationId));
    const kept = '0b8f3c52-6a1e-4d7f-9c3b-2e5a7d9f1c04';
    const sequential = 'C1A4C5E4-5B4C-E311-BE7B-0026B9B5C0D0'; // SQL Server NEWSEQUENTIALID(): a UUID all the same
    const batch = messages(5).map((message, i) => {
      const envelope = JSON.parse(message.value!.toString());
      return { ...message, value: Buffer.from(JSON.stringify({ ...envelope, correlationId: ['', 'corr-42', kept, sequential, 'corr-42'][i] })) };
    });
    const handle = () => (subject as unknown as WithBatch).handleBatch(payload(batch, async () => undefined).value);
    await handle();
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(seen).toHaveLength(5);
    expect(seen[0]).toMatch(uuid);
    expect(seen[1]).toMatch(uuid);
    expect(seen[0]).not.toBe(seen[1]);
    expect(seen[2]).toBe(kept);
    expect(seen[3]).toBe(sequential);
    expect(seen[4]).toMatch(uuid);
    expect(seen[4]).not.toBe(seen[1]); // one placeholder sent with every event does not join them into one chain
    // Delivered again (a crash before the commit): the same ids, so its effects' and its retries' lines agree.
    const first = [...seen];
    seen.length = 0;
    await handle();
    expect(seen).toEqual(first);
  });
});

describe('KafkaEventServer retrying a handler', () => {
  // maxAttempts bounds transient failures: a database outage waited out before must not have used them up.
  it('gives a message failing once after a database outage its transient retries, not the dead-letter topic', async () => {
    const sent: unknown[] = [];
    const producer = { send: jest.fn(async (...args: unknown[]) => void sent.push(args)) };
    const ledger = { processed: async () => new Set<string>(), recordMany: jest.fn(async () => undefined), recordDeadLetter: jest.fn(async () => undefined) };
    const subject = new KafkaEventServer(
      {} as Kafka,
      { serviceName: 'unit', brokers: [], keysConsumedConcurrently: 1, maxAttempts: 3, retryBackoffMs: 1 },
      producer as unknown as EventProducer,
      ledger as unknown as ProcessedEventLedger,
      {} as OutboxRelay,
      {} as TopicAdmin,
      new MessagingMetrics(),
    );
    const failures = [
      ...Array.from({ length: 4 }, () => Object.assign(new Error('Server selection timed out after 5000 ms'), { name: 'MongoServerSelectionError' })),
      new Error('a write conflict'),
    ];
    let calls = 0;
    subject.addHandler(
      Topics.agreements,
      async () => {
        calls += 1;
        const failure = failures.shift();
        if (failure) throw failure;
      },
      true,
    );
    const { value, resolved } = payload(messages(1), async () => undefined);
    await (subject as unknown as WithBatch).handleBatch(value);
    expect(calls).toBe(6); // 4 while the database was down, 1 transient failure, then done
    expect(sent).toEqual([]); // nothing dead-lettered
    expect(resolved).toEqual(['0']);
  }, 60_000);
});

describe('KafkaEventServer when a handler keeps failing', () => {
  // SPEC 3: bounded retries for transient failures, then `<topic>.dlq` with the error, and the partition goes on.
  it('dead-letters the message after maxAttempts transient failures, with the error and the attempts, then goes on with the next', async () => {
    const { subject, sent, ledger } = recordingServer({ maxAttempts: 3, retryBackoffMs: 1 });
    const calls: string[] = [];
    subject.addHandler(
      Topics.agreements,
      async (event: ConsumedEvent) => {
        calls.push(event.offset);
        if (event.offset === '0') throw new Error('a write conflict that never clears');
      },
      true,
    );
    const batch = messages(2);
    const { value, resolved } = payload(batch, async () => undefined);
    await (subject as unknown as WithBatch).handleBatch(value);

    expect(calls).toEqual(['0', '0', '0', '1']); // three attempts, then the next message
    expect(sent).toHaveLength(1);
    expect(sent[0].topic).toBe(`${Topics.agreements}.dlq`);
    const [record] = sent[0].messages;
    expect(String(record.value)).toBe(String(batch[0].value)); // the message as it came
    expect(record.headers['x-dlq-attempts']).toBe('3');
    expect(String(record.headers['x-dlq-error'])).toMatch(/write conflict that never clears/);
    expect(record.headers['x-dlq-original-offset']).toBe('0');
    expect(resolved.at(-1)).toBe('1'); // both done: the partition goes on past the dead letter
    // Recorded in the service's database as a failure that might clear (what the rollover checks before it decides).
    expect(ledger.recordDeadLetter).toHaveBeenCalledTimes(1);
    expect(ledger.recordDeadLetter).toHaveBeenCalledWith('unit', expect.objectContaining({ topic: Topics.agreements, partition: 0, offset: '0', permanent: false, error: expect.stringMatching(/write conflict that never clears/) }));
  }, 30_000);
});

describe('KafkaEventServer dead-lettering a record too large for the dead-letter topic', () => {
  it('sends it without its value, and without original headers that are themselves too large', async () => {
    const { subject: dead, sent } = recordingServer();
    dead.addHandler(Topics.agreements, async () => undefined, true);
    const poison: KafkaMessage = {
      offset: '7',
      key: Buffer.from('k'),
      value: Buffer.from('x'.repeat(950_000)), // not JSON: malformed
      timestamp: '0',
      attributes: 0,
      headers: { trace: 'y'.repeat(300_000) },
    };
    const { value } = payload([poison], async () => undefined);
    await (dead as unknown as WithBatch).handleBatch(value);

    expect(sent).toHaveLength(1);
    const [record] = sent[0].messages;
    expect(sent[0].topic).toBe(`${Topics.agreements}.dlq`);
    expect(record.value).toBeNull();
    expect(record.headers.trace).toBeUndefined();
    expect(record.headers['x-dlq-value-dropped']).toMatch(/exceeds/);
    expect(record.headers['x-dlq-original-offset']).toBe('7');
    expect(String(record.headers['x-dlq-error'])).toMatch(/not JSON/);
  });
});

describe('KafkaEventServer dead-lettering a record the dead-letter topic refuses', () => {
  const refusal = (type: string) => Object.assign(new Error(`broker: ${type}`), { name: 'KafkaJSProtocolError', type, retriable: false });
  const poison: KafkaMessage = { offset: '5', key: Buffer.from('k'), value: Buffer.from('not json'), timestamp: '0', attributes: 0, headers: {} };

  it.each(['MESSAGE_TOO_LARGE', 'INVALID_RECORD'])('sends it without its value when the broker refuses the record (%s)', async (type) => {
    const { subject: dead, sent } = recordingServer();
    dead.addHandler(Topics.agreements, async () => undefined, true);
    const producer = (dead as unknown as { producer: { send: jest.Mock } }).producer;
    producer.send.mockRejectedValueOnce(refusal(type));
    const { value, resolved } = payload([poison], async () => undefined);
    await (dead as unknown as WithBatch).handleBatch(value);
    expect(resolved).toEqual(['5']);
    expect(sent).toHaveLength(1);
    expect(sent[0].messages[0].value).toBeNull();
    expect(String(sent[0].messages[0].headers['x-dlq-value-dropped'])).toContain(type);
  });

  it.each(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH'])(
    "keeps its value on the producer's own failure (%s): not done, the redelivery dead-letters it whole",
    async (type) => {
      const { subject: dead, sent } = recordingServer();
      dead.addHandler(Topics.agreements, async () => undefined, true);
      const producer = (dead as unknown as { producer: { send: jest.Mock } }).producer;
      producer.send.mockRejectedValueOnce(refusal(type));
      const { value, resolved } = payload([poison], async () => undefined);
      await expect((dead as unknown as WithBatch).handleBatch(value)).rejects.toThrow(type);
      expect(resolved).toEqual([]);
      expect(sent).toEqual([]);
    },
  );
});

describe('KafkaEventServer dead-lettering a record with a null header value (Kafka allows one: a Java producer\'s RecordHeader(name, null))', () => {
  it('sends it with its other headers, the null one left out (KafkaJS cannot write it)', async () => {
    const { subject: dead, sent } = recordingServer();
    dead.addHandler(Topics.agreements, async () => undefined, true);
    const poison = { offset: '9', key: Buffer.from('k'), value: Buffer.from('not json'), timestamp: '0', attributes: 0, headers: { empty: null, kept: Buffer.from('v') } } as unknown as KafkaMessage;
    const { value, resolved } = payload([poison], async () => undefined);
    await (dead as unknown as WithBatch).handleBatch(value);
    expect(resolved).toEqual(['9']);
    expect(sent).toHaveLength(1);
    const [record] = sent[0].messages;
    expect(String(record.value)).toBe('not json');
    expect(record.headers).not.toHaveProperty('empty');
    expect(String(record.headers.kept)).toBe('v');
    expect(String(record.headers['x-dlq-error'])).toMatch(/not JSON/);
  });
});

describe('KafkaEventServer dead-lettering a large record that fits the dead-letter topic', () => {
  // 950 KB fitted its own topic (a broker's default 1 MiB): the dead letter keeps its value (it was dropped above 900 KB).
  it('sends it with its value, as it came', async () => {
    const { subject: dead, sent } = recordingServer();
    dead.addHandler(Topics.agreements, async () => undefined, true);
    const large: KafkaMessage = { offset: '8', key: Buffer.from('k'), value: Buffer.from('x'.repeat(950_000)), timestamp: '0', attributes: 0, headers: {} };
    const { value } = payload([large], async () => undefined);
    await (dead as unknown as WithBatch).handleBatch(value);
    expect(sent).toHaveLength(1);
    const [record] = sent[0].messages;
    expect(Buffer.from(record.value as Buffer).length).toBe(950_000);
    expect(record.headers['x-dlq-value-dropped']).toBeUndefined();
  });
});

describe('KafkaEventServer with topics of their own (ownConsumers)', () => {
  const make = (ownConsumers: Record<string, string[]>, kafka: unknown = {}) => {
    const subject = new KafkaEventServer(
      kafka as Kafka,
      { serviceName: 'unit', brokers: [], ownConsumers },
      {} as EventProducer,
      {} as ProcessedEventLedger,
      {} as OutboxRelay,
      {} as TopicAdmin,
      new MessagingMetrics(),
    );
    subject.addHandler(Topics.agreements, async () => undefined, true);
    subject.addHandler(Topics.identity, async () => undefined, true);
    return subject;
  };

  it.each([
    ['a topic named for two consumers', { a: [Topics.identity], b: [Topics.identity] }, /named for more than one/],
    ['a name that cannot be part of a group id', { 'Not OK': [Topics.identity] }, /not a consumer name/],
  ])('refuses %s at start', (_, ownConsumers, message) => {
    let failure: unknown;
    make(ownConsumers).listen((error) => (failure = error));
    expect(String(failure)).toMatch(message);
  });

  it('refuses a topic with two handlers at start (Nest would run them at once, and retry both when one fails)', () => {
    const subject = make({});
    subject.addHandler(Topics.identity, async () => undefined, true);
    let failure: unknown;
    subject.listen((error) => (failure = error));
    expect(String(failure)).toMatch(new RegExp(`${Topics.identity.replace(/\./g, '\\.')}: more than one @EventPattern handler`));
  });

  type Copying = { startWhereTheServiceWas(lane: { groupId: string; topics: string[]; name: string }): Promise<void> };

  /** The broker as the copy sees it: committed offsets per group and partition; setOffsets refused `busy` times first. */
  function broker(committed: Record<string, Record<number, number>>, busy = 0) {
    const copies: string[] = [];
    const admin = {
      connect: async () => undefined,
      disconnect: async () => undefined,
      fetchOffsets: async ({ groupId, topics }: { groupId: string; topics: string[] }) =>
        topics.map((topic) => ({ topic, partitions: [0, 1, 2].map((partition) => ({ partition, offset: String(committed[groupId]?.[partition] ?? -1) })) })),
      setOffsets: async ({ groupId, partitions }: { groupId: string; partitions: Array<{ partition: number; offset: string }> }) => {
        if (busy-- > 0) {
          // Another replica's copy lands meanwhile (what the next look finds).
          committed[groupId] = { ...committed[groupId], 0: 7 };
          throw new Error('The consumer group must have no running instances, current state: PreparingRebalance');
        }
        copies.push(...partitions.map((p) => `${p.partition}@${p.offset}`));
        for (const { partition, offset } of partitions) committed[groupId] = { ...committed[groupId], [partition]: Number(offset) };
      },
    };
    return { kafka: { admin: () => admin }, copies };
  }

  const lane = { name: 'identity', groupId: 'unit-identity', topics: [Topics.identity] };

  it("copies the service group's offsets only to partitions the consumer's group has none for", async () => {
    const { kafka, copies } = broker({ unit: { 0: 5, 1: 8 }, 'unit-identity': { 1: 9 } });
    await (make({ identity: [Topics.identity] }, kafka) as unknown as Copying).startWhereTheServiceWas(lane);
    expect(copies).toEqual(['0@5']); // 1 kept (9, its own), 2: neither group has one
  });

  it('looks again when the group is busy (another replica copying) and copies what is still missing', async () => {
    const { kafka, copies } = broker({ unit: { 0: 5, 1: 8 } }, 1);
    await (make({ identity: [Topics.identity] }, kafka) as unknown as Copying).startWhereTheServiceWas(lane);
    expect(copies).toEqual(['1@8']); // partition 0 was copied by the other replica meanwhile
  });
});

describe('KafkaEventServer closing while a consumer starts', () => {
  /** A KafkaJS consumer as start() uses it; `crash` emits its CRASH event as KafkaJS does. */
  function fakeConsumer(onSubscribe: () => void = () => undefined) {
    const listeners = new Map<string, (event: { payload: unknown }) => void>();
    return {
      events: { GROUP_JOIN: 'join', CRASH: 'crash', STOP: 'stop' },
      on: (event: string, listener: (event: { payload: unknown }) => void) => void listeners.set(event, listener),
      connect: jest.fn(async () => undefined),
      subscribe: jest.fn(async () => onSubscribe()),
      run: jest.fn(async () => undefined),
      disconnect: jest.fn(async () => undefined),
      crash: (restart: boolean, error: Error = new Error('Connection closed')) => listeners.get('crash')!({ payload: { error, restart } }),
    };
  }
  type Starting = { closing: boolean; start(lane: { name: string; groupId: string; topics: string[]; running: boolean; restartDelay: number }): Promise<void> };
  const lane = () => ({ name: '', groupId: 'unit', topics: [Topics.agreements], running: false, restartDelay: 500 });

  function make(consumer: ReturnType<typeof fakeConsumer>, topics: Partial<TopicAdmin> = {}): Starting {
    return new KafkaEventServer(
      { consumer: () => consumer } as unknown as Kafka,
      { serviceName: 'unit', brokers: [] },
      { connect: async () => undefined } as unknown as EventProducer,
      {} as ProcessedEventLedger,
      {} as OutboxRelay,
      { ensureTopics: async () => undefined, ...topics } as unknown as TopicAdmin,
      new MessagingMetrics(),
    ) as unknown as Starting;
  }

  it('runs no consumer once close has begun while it subscribed, and disconnects it', async () => {
    let subject: Starting | undefined;
    const consumer = fakeConsumer(() => (subject!.closing = true));
    subject = make(consumer);
    await subject.start(lane());
    expect(consumer.run).not.toHaveBeenCalled();
    expect(consumer.disconnect).toHaveBeenCalledTimes(1);
  });

  // close() waits a few seconds for a start, then disconnects it under its join: the join fails (retriable), and
  // KafkaJS would restart the consumer after CRASH, to consume while the outbox flushes and the database closes.
  it('disconnects again a consumer that crashes while closing, which clears the restart KafkaJS set', async () => {
    const consumer = fakeConsumer();
    const subject = make(consumer);
    await subject.start(lane());
    expect(consumer.run).toHaveBeenCalledTimes(1);
    subject.closing = true;
    consumer.crash(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(consumer.disconnect).toHaveBeenCalledTimes(1);
  });

  // Deleted to purge it, or a broker back with an empty data dir: KafkaJS's own restarts would crash on it for good.
  it('restarts a consumer whose topic is gone itself, through start (which creates it again), and clears the restart KafkaJS set', async () => {
    const consumers = [fakeConsumer(), fakeConsumer()];
    const made: Array<ReturnType<typeof fakeConsumer>> = [];
    const ensured: string[][] = [];
    const known = new Set<string>();
    const subject = new KafkaEventServer(
      { consumer: () => (made.push(consumers[made.length]), consumers[made.length - 1]) } as unknown as Kafka,
      { serviceName: 'unit', brokers: [] },
      { connect: async () => undefined } as unknown as EventProducer,
      {} as ProcessedEventLedger,
      {} as OutboxRelay,
      {
        // As TopicAdmin: topics known are not looked for again, until forgotten.
        ensureTopics: async (topics: string[]) => {
          ensured.push(topics.filter((t) => !known.has(t)));
          for (const t of topics) known.add(t);
        },
        forget: (topics: string[]) => topics.forEach((t) => known.delete(t)),
      } as unknown as TopicAdmin,
      new MessagingMetrics(),
    ) as unknown as Starting;
    const started = { ...lane(), restartDelay: 1 };
    await subject.start(started);
    expect(ensured).toEqual([[Topics.agreements, deadLetterTopic(Topics.agreements)]]);
    const gone = Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' });
    // As KafkaJS reports it first (seen against the real broker): its retries' error, with the protocol error as cause.
    consumers[0].crash(true, Object.assign(new Error('This server does not host this topic-partition'), { name: 'KafkaJSNumberOfRetriesExceeded', cause: gone }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(consumers[0].disconnect).toHaveBeenCalledTimes(1); // KafkaJS's own restart cleared
    expect(made).toHaveLength(2); // a new consumer, through start()
    expect(ensured).toEqual([
      [Topics.agreements, deadLetterTopic(Topics.agreements)],
      [Topics.agreements, deadLetterTopic(Topics.agreements)], // looked for (and created) again: forgotten as known
    ]);
    expect(consumers[1].run).toHaveBeenCalledTimes(1);
    subject.closing = true;
  });

  it('leaves a consumer that crashes while running to the restart KafkaJS makes', async () => {
    const consumer = fakeConsumer();
    const subject = make(consumer);
    await subject.start(lane());
    consumer.crash(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(consumer.disconnect).not.toHaveBeenCalled();
  });
});

// Judged against when it was written: a replay (a new consumer group, months later) or a consumer far behind reads a
// message as the first reading did. Against the reader's clock, an event refused at first (dated ahead) was applied on
// replay, shadowing every correct fact dated before it.
describe("KafkaEventServer: an outside system's event dated ahead, judged against its record's timestamp", () => {
  /** `timestampType`: the record batch's, as KafkaJS decodes it (1: LogAppendTime, the broker's clock; 0: CreateTime). */
  const dated = (occurredAt: string, timestamp: string, timestampType = 1): KafkaMessage =>
    ({
      offset: '0',
      key: Buffer.from('p1'),
      value: Buffer.from(JSON.stringify(createEnvelope({ type: 'AgreementStatusChanged', source: 'agreements', occurredAt: new Date(occurredAt), data: { partnerId: 'p1', active: false } }))),
      timestamp,
      attributes: 0,
      headers: {},
      batchContext: { timestampType },
    }) as KafkaMessage;

  const written = Date.parse('2026-01-01T00:00:00Z');
  // Fifty years ahead of the run (a literal year would one day be the past).
  const AHEAD = new Date(Date.now() + 50 * 365 * 86_400_000).toISOString();
  it.each([
    // Read long after: the reader's clock would take it; judged as when it was written, it is still refused.
    ['90 minutes after it was written', new Date(written + 90 * 60_000).toISOString(), String(written), 0, 1],
    ['30 minutes after it was written', new Date(written + 30 * 60_000).toISOString(), String(written), 1, 0],
    ['decades ahead, written now (its date a typo)', AHEAD, String(Date.now()), 0, 1],
    // A producer's clock set ahead does not vouch for its own dates: the reader's clock bounds the record's.
    ['decades ahead, written by a producer whose clock says so', AHEAD, String(Date.parse(AHEAD) - 60_000), 0, 1],
    // A producer's own timestamp (CreateTime: a topic not stamped by the broker) says nothing of when it was written:
    // a Kafka Streams app's output inherits its input's, hours earlier. The reader's clock judges then.
    ['now, its CreateTime 3 hours earlier', new Date().toISOString(), String(Date.now() - 3 * 3_600_000), 1, 0, 0],
    ['decades ahead, its CreateTime now', AHEAD, String(Date.now()), 0, 1, 0],
  ])('dated %s (occurredAt %s, record timestamp %s): handled %i, dead-lettered %i', async (_, occurredAt, timestamp, handled, deadLettered, timestampType = 1) => {
    const { subject, sent } = recordingServer();
    let done = 0;
    subject.addHandler(Topics.agreements, async () => void (done += 1), true);
    const { value } = payload([dated(occurredAt, timestamp, timestampType)], async () => undefined);
    await (subject as unknown as WithBatch).handleBatch(value);
    expect([done, sent.length]).toEqual([handled, deadLettered]);
    if (deadLettered) expect(String(sent[0].messages[0].headers['x-dlq-error'])).toContain('ahead of when the message was written');
  });
});

describe('KafkaEventServer dead-lettering a message that breaks the contract', () => {
  it('does so in the trace the message names (its producer finds the line by its correlation id), and in none it does not', async () => {
    const { subject: dead, sent } = recordingServer();
    const traces: Array<string | undefined> = [];
    const send = (dead as unknown as { producer: { send: (...args: unknown[]) => Promise<void> } }).producer.send;
    (dead as unknown as { producer: { send: (...args: unknown[]) => Promise<void> } }).producer.send = async (...args) => {
      traces.push(Trace.current()?.correlationId);
      return send(...args);
    };
    dead.addHandler(Topics.agreements, async () => undefined, true);
    const breaking = { ...createEnvelope({ type: 'AgreementStatusChanged', source: 'test', data: { partnerId: 'p1', active: true } }), data: { partnerId: 'p1', active: 'yes' } };
    const batch = [breaking, { ...breaking, correlationId: 'not-a-uuid' }].map(
      (envelope, i) => ({ offset: String(i), key: Buffer.from('p1'), value: Buffer.from(JSON.stringify(envelope)), timestamp: String(Date.now()), attributes: 0, headers: {} }) as KafkaMessage,
    );
    await (dead as unknown as WithBatch).handleBatch(payload(batch, async () => undefined).value);
    expect(sent).toHaveLength(2);
    expect(claimedTrace(batch[0].value)).toEqual({ correlationId: breaking.correlationId, causationId: breaking.eventId });
    expect(traces).toEqual([breaking.correlationId, undefined]);
  });
});
