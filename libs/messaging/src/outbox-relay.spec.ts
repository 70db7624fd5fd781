import { storage as requestLogs, Store } from 'nestjs-pino/storage';
import pino from 'pino';
import { Gauge, register } from 'prom-client';
import { Trace, TraceContext } from './context';
import { MessagingMetrics, RelayStatus, relayStatuses } from './metrics';
import { byteChunks, ORPHANED_AFTER_MS, OutboxRelay, producerPartition, recordBytes } from './outbox-relay';
import { Types } from 'mongoose';
import { OutboxEntry, PendingOutboxes } from './outbox';

/** An entry of `bytes` as the relay counts them (key, value and a record's overhead). */
const entry = (id: string, bytes: number): OutboxEntry => {
  const sized = { eventId: id, topic: 't', key: 'k', value: '', createdAt: new Date(0) };
  return { ...sized, value: id + 'x'.repeat(bytes - recordBytes(sized) - id.length) };
};

describe('byteChunks: the relay sends entries in runs the broker accepts', () => {
  it('counts a record\'s overhead with its key and value', () => {
    expect(recordBytes({ eventId: 'a', topic: 't', key: 'kk', value: 'vvv', createdAt: new Date(0) })).toBeGreaterThan(5 + 60);
  });

  it('cuts consecutive runs of at most the limit, in order', () => {
    const entries = [entry('a', 400), entry('b', 400), entry('c', 400), entry('d', 150)];
    expect(byteChunks(entries, 1_000).map((run) => run.map((e) => e.eventId))).toEqual([['a', 'b'], ['c', 'd']]);
  });

  it('keeps everything in one run when it fits, and gives nothing for nothing', () => {
    expect(byteChunks([entry('a', 200), entry('b', 200)], 1_000).map((run) => run.length)).toEqual([2]);
    expect(byteChunks([], 1_000)).toEqual([]);
  });

  it('sends an entry exactly at the limit alone', () => {
    expect(byteChunks([entry('a', 200), entry('b', 1_000), entry('c', 200)], 1_000).map((run) => run.map((e) => e.eventId))).toEqual([['a'], ['b'], ['c']]);
  });
});

describe('OutboxRelay: runs removed as the broker acknowledges them', () => {
  /** Documents of one collection, as the relay reads them (a fake of the driver's collection: a pure unit test). */
  function fakeCollection(docs: Array<{ _id: string; outbox: OutboxEntry[] }>) {
    return {
      collectionName: 'things',
      find: (filter: { _id?: { $in: string[] } }) => ({
        toArray: async () => docs.filter((d) => d.outbox.length && (!filter._id || filter._id.$in.includes(d._id))).map((d) => ({ _id: d._id, outbox: [...d.outbox] })),
      }),
      updateMany: async (filter: { _id: { $in: string[] } }, update: { $pullAll: { outbox: OutboxEntry[] } }) => {
        for (const doc of docs.filter((d) => filter._id.$in.includes(d._id))) {
          doc.outbox = doc.outbox.filter((e) => !update.$pullAll.outbox.some((p) => p.eventId === e.eventId));
        }
      },
      updateOne: async () => ({ modifiedCount: 0 }),
    };
  }

  type ParkingDoc = { _id: string; outbox: OutboxEntry[]; outboxParked?: Array<OutboxEntry & { reason: string }> };
  /** fakeCollection whose updateOne parks an entry, as the relay's parkEntry writes it. */
  function parkingCollection(docs: ParkingDoc[]) {
    return {
      ...fakeCollection(docs),
      updateOne: async (filter: { _id: string }, update: { $pullAll: { outbox: OutboxEntry[] }; $push: { outboxParked: OutboxEntry & { reason: string } } }) => {
        const doc = docs.find((d) => d._id === filter._id)!;
        doc.outbox = doc.outbox.filter((e) => !update.$pullAll.outbox.some((p) => p.eventId === e.eventId));
        doc.outboxParked = [...(doc.outboxParked ?? []), update.$push.outboxParked];
        return { modifiedCount: 1 };
      },
    };
  }

  it('a run the broker refuses leaves it and everything after it in place; the runs before it are not sent again', async () => {
    const docs = [
      { _id: 'd1', outbox: [entry('a', 400), entry('b', 400)] },
      { _id: 'd2', outbox: [entry('c', 400), entry('d', 400)] },
    ].map((doc, i) => ({ ...doc, outbox: doc.outbox.map((e, j) => ({ ...e, createdAt: new Date(i * 10 + j) })) }));
    const collection = fakeCollection(docs);
    const sent: string[][] = [];
    let refuse = true;
    const producer = {
      sendBatch: async (batches: Array<{ messages: Array<{ value: string }> }>) => {
        const ids = batches.flatMap((b) => b.messages.map((m) => all.find((e) => e.value === m.value)!.eventId));
        if (refuse && ids.includes('c')) throw new Error('refused');
        sent.push(ids);
      },
    };
    const all = docs.flatMap((d) => d.outbox);
    const connection = { models: { Thing: { schema: { path: (p: string) => p === 'outbox' }, collection, db: { name: 'db' } } } };
    const topics = { ensureTopics: async () => undefined };
    const relay = new OutboxRelay(connection as never, producer as never, new MessagingMetrics(), { serviceName: 'test', brokers: [], relayMaxRecordBytes: 1_000 }, topics as never);

    await expect(relay.flush()).rejects.toThrow('refused');
    expect(sent).toEqual([['a', 'b']]);
    expect(docs.map((d) => d.outbox.map((e) => e.eventId))).toEqual([[], ['c', 'd']]);

    refuse = false;
    await relay.flush();
    expect(sent).toEqual([['a', 'b'], ['c', 'd']]);
    expect(docs.map((d) => d.outbox.length)).toEqual([0, 0]);
  });
  // Not authorized to write one topic (a release added it; the platform team has not granted WRITE yet): a refusal no
  // retry fixes. Its events wait, in order; every other topic's go out, once.
  it("a topic the broker refuses for good holds back its own events only; the other topics' go out, once", async () => {
    const onTopic = (id: string, topic: string, at: number) => ({ ...entry(id, 400), topic, createdAt: new Date(at) });
    const docs = [
      { _id: 'd1', outbox: [onTopic('a', 't1', 1), onTopic('b', 'refused', 2)] },
      { _id: 'd2', outbox: [onTopic('c', 't1', 3), onTopic('d', 'refused', 4), onTopic('e', 't2', 5)] },
    ];
    const collection = fakeCollection(docs);
    const all = docs.flatMap((d) => d.outbox);
    const sent: string[][] = [];
    let refuse = true;
    const producer = {
      sendBatch: async (batches: Array<{ topic: string; messages: Array<{ value: string }> }>) => {
        if (refuse && batches.some((b) => b.topic === 'refused')) {
          throw Object.assign(new Error('Not authorized to access topics: [refused]'), { name: 'KafkaJSProtocolError', type: 'TOPIC_AUTHORIZATION_FAILED', retriable: false });
        }
        sent.push(batches.flatMap((b) => b.messages.map((m) => all.find((e) => e.value === m.value)!.eventId)));
      },
    };
    const connection = { models: { Thing: { schema: { path: (p: string) => p === 'outbox' }, collection, db: { name: 'db' } } } };
    const relay = new OutboxRelay(connection as never, producer as never, new MessagingMetrics(), { serviceName: 'test', brokers: [], relayMaxRecordBytes: 100_000 }, { ensureTopics: async () => undefined, forget: () => undefined } as never);

    await expect(relay.flush()).rejects.toThrow(/^the broker refused refused \(.*Not authorized.*\); their events wait, the other topics. went out$/);
    expect(sent.flat().sort()).toEqual(['a', 'c', 'e']);
    expect(docs.map((d) => d.outbox.map((e) => e.eventId))).toEqual([['b'], ['d']]);
    // The next drains send nothing again but what still waits.
    await expect(relay.flush()).rejects.toThrow(/refused/);
    expect(sent.flat().sort()).toEqual(['a', 'c', 'e']);

    refuse = false;
    await relay.flush();
    expect(sent.at(-1)).toEqual(['b', 'd']);
    expect(docs.map((d) => d.outbox.length)).toEqual([0, 0]);
  });
  // A run refused as too large goes one entry at a time: an entry of a topic refused for another reason on the way (not
  // authorized to write it) holds back that topic only; the one too large behind it is still parked, the others sent.
  it('one by one after a too-large refusal: a topic refused for good on the way holds back its own events; the one too large is parked, the others go out', async () => {
    const onTopic = (id: string, topic: string, at: number, bytes = 400) => ({ ...entry(id, bytes), topic, createdAt: new Date(at) });
    const docs: ParkingDoc[] = [
      { _id: 'd1', outbox: [onTopic('a', 'refused', 1), onTopic('big', 't1', 2, 900)] },
      { _id: 'd2', outbox: [onTopic('c', 't2', 3)] },
    ];
    const collection = parkingCollection(docs);
    const all = docs.flatMap((d) => d.outbox);
    const sent: string[] = [];
    const producer = {
      sendBatch: async (batches: Array<{ topic: string; messages: Array<{ value: string }> }>) => {
        const ids = batches.flatMap((b) => b.messages.map((m) => all.find((e) => e.value === m.value)!.eventId));
        // The broker's first partition error: the run's too large one, or, alone, each entry's own.
        if (ids.includes('big')) throw Object.assign(new Error('The request included a message larger than the max message size the server will accept'), { name: 'KafkaJSProtocolError', type: 'MESSAGE_TOO_LARGE', retriable: false });
        if (ids.includes('a')) throw Object.assign(new Error('Not authorized to access topics: [refused]'), { name: 'KafkaJSProtocolError', type: 'TOPIC_AUTHORIZATION_FAILED', retriable: false });
        sent.push(...ids);
      },
    };
    const connection = { models: { Thing: { schema: { path: (p: string) => p === 'outbox' }, collection, db: { name: 'db' } } } };
    const relay = new OutboxRelay(connection as never, producer as never, new MessagingMetrics(), { serviceName: 'test', brokers: [], relayMaxRecordBytes: 100_000 }, { ensureTopics: async () => undefined, forget: () => undefined } as never);

    await expect(relay.flush()).rejects.toThrow(/^the broker refused refused \(.*Not authorized.*\); their events wait, the other topics. went out$/);
    expect(sent).toEqual(['c']);
    expect(docs.map((d) => d.outbox.map((e) => e.eventId))).toEqual([['a'], []]);
    expect(docs[0].outboxParked).toEqual([expect.objectContaining({ eventId: 'big', reason: expect.stringMatching(/^refused by the broker as too large \(MESSAGE_TOO_LARGE\)/) })]);
  });

  /** Keys on two partitions of a topic of two, as the producer's partitioner puts them. */
  function keysOnTwoPartitions(): { onA: string; onB: string; partitionA: number } {
    const partition = (key: string) => producerPartition('t', key, 2);
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    const onA = keys[0];
    const onB = keys.find((key) => partition(key) !== partition(onA))!;
    return { onA, onB, partitionA: partition(onA) };
  }

  it('a partition a send cannot reach holds back its own events only, in order, also the later ones it would take by then; the other partitions\' go out, and the drain fails (retried)', async () => {
    const { onA, onB, partitionA } = keysOnTwoPartitions();
    const on = (id: string, key: string, at: number) => ({ ...entry(id, 400), key, createdAt: new Date(at) });
    const docs = [
      { _id: 'd1', outbox: [on('a1', onA, 1_000), on('b1', onB, 2_000)] },
      { _id: 'd2', outbox: [on('a2', onA, 3_000), on('b2', onB, 4_000)] },
    ];
    const collection = fakeCollection(docs);
    const all = docs.flatMap((d) => d.outbox);
    const ids = (batches: Array<{ messages: Array<{ value: string }> }>) => batches.flatMap((b) => b.messages.map((m) => all.find((e) => e.value === m.value)!.eventId));
    const sent: string[][] = [];
    const tried: string[][] = [];
    // Partition A refuses the run and its own retry, then would take anything: a2 must still not go out before a1.
    let refusals = 2;
    const producer = {
      sendBatch: async (batches: Array<{ topic: string; messages: Array<{ key: string; value: string }> }>) => {
        tried.push(ids(batches));
        if (refusals > 0 && batches.some((b) => b.messages.some((m) => m.key === onA))) {
          refusals--;
          throw Object.assign(new Error('The server experienced an unexpected error when processing the request'), { name: 'KafkaJSProtocolError', type: 'NOT_ENOUGH_REPLICAS', retriable: true });
        }
        sent.push(ids(batches));
      },
    };
    const connection = { models: { Thing: { schema: { path: (p: string) => p === 'outbox' }, collection, db: { name: 'db' } } } };
    const topics = { ensureTopics: async () => undefined, forget: () => undefined, partitionCounts: async (wanted: string[]) => new Map(wanted.map((t) => [t, 2])) };
    // Runs of two entries: [a1, b1], then [a2, b2].
    const relay = new OutboxRelay(connection as never, producer as never, new MessagingMetrics(), { serviceName: 'test', brokers: [], relayMaxRecordBytes: 1_000 }, topics as never);

    await expect(relay.flush()).rejects.toThrow(new RegExp(`^partition\\(s\\) t:${partitionA} did not take their events \\(.*unexpected error.*\\); they wait, in order, and the other partitions' went out$`));
    // The run, then its partitions apart (a1 refused again, b1 taken); then b2 alone: a2 never tried after a1 failed.
    expect(tried).toEqual([['a1', 'b1'], ['a1'], ['b1'], ['b2']]);
    expect(sent).toEqual([['b1'], ['b2']]);
    expect(docs.map((d) => d.outbox.map((e) => e.eventId))).toEqual([['a1'], ['a2']]);
    // /metrics: the oldest event not published is a1, held back.
    expect((relay as unknown as { status: RelayStatus }).status.unpublishedSince).toBe(1_000);

    await relay.flush();
    expect(sent.at(-1)).toEqual(['a1', 'a2']);
    expect(docs.map((d) => d.outbox.length)).toEqual([0, 0]);
  });

  it('a partition refused as too large while another is out of reach goes one by one: the one too large is parked, the rest of it sent', async () => {
    const { onA, onB, partitionA } = keysOnTwoPartitions();
    const on = (id: string, key: string, at: number, bytes = 400) => ({ ...entry(id, bytes), key, createdAt: new Date(at) });
    const docs: ParkingDoc[] = [
      { _id: 'd1', outbox: [on('a1', onA, 1_000), on('big', onB, 2_000, 900)] },
      { _id: 'd2', outbox: [on('b2', onB, 3_000)] },
    ];
    const collection = parkingCollection(docs);
    const all = docs.flatMap((d) => d.outbox);
    const ids = (batches: Array<{ messages: Array<{ value: string }> }>) => batches.flatMap((b) => b.messages.map((m) => all.find((e) => e.value === m.value)!.eventId));
    const sent: string[][] = [];
    const producer = {
      sendBatch: async (batches: Array<{ topic: string; messages: Array<{ key: string; value: string }> }>) => {
        // Partition A has too few replicas (the first error of any send naming it); B's batch with `big` is too large.
        if (batches.some((b) => b.messages.some((m) => m.key === onA))) {
          throw Object.assign(new Error('The server experienced an unexpected error when processing the request'), { name: 'KafkaJSProtocolError', type: 'NOT_ENOUGH_REPLICAS', retriable: true });
        }
        if (ids(batches).includes('big')) throw Object.assign(new Error('The request included a message larger than the max message size the server will accept'), { name: 'KafkaJSProtocolError', type: 'MESSAGE_TOO_LARGE', retriable: false });
        sent.push(ids(batches));
      },
    };
    const connection = { models: { Thing: { schema: { path: (p: string) => p === 'outbox' }, collection, db: { name: 'db' } } } };
    const topics = { ensureTopics: async () => undefined, forget: () => undefined, partitionCounts: async (wanted: string[]) => new Map(wanted.map((t) => [t, 2])) };
    const relay = new OutboxRelay(connection as never, producer as never, new MessagingMetrics(), { serviceName: 'test', brokers: [], relayMaxRecordBytes: 100_000 }, topics as never);

    await expect(relay.flush()).rejects.toThrow(new RegExp(`^partition\\(s\\) t:${partitionA} did not take their events`));
    expect(sent).toEqual([['b2']]);
    expect(docs.map((d) => d.outbox.map((e) => e.eventId))).toEqual([['a1'], []]);
    expect(docs[0].outboxParked).toEqual([expect.objectContaining({ eventId: 'big' })]);
  });

  it('events held back in the first documents of a drain do not hold back those read after them (more than one batch of documents)', async () => {
    const onTopic = (id: string, topic: string, at: number) => ({ ...entry(id, 200), topic, createdAt: new Date(at) });
    const docs = Array.from({ length: 250 }, (_, i) => ({ _id: `d${String(i).padStart(3, '0')}`, outbox: [onTopic(`r${i}`, 'refused', i)] }));
    docs.push({ _id: 'd999', outbox: [onTopic('last', 't1', 1_000)] });
    const collection = fakeCollection(docs);
    const all = docs.flatMap((d) => d.outbox);
    const sent: string[] = [];
    const producer = {
      sendBatch: async (batches: Array<{ topic: string; messages: Array<{ value: string }> }>) => {
        if (batches.some((b) => b.topic === 'refused')) {
          throw Object.assign(new Error('Not authorized to access topics: [refused]'), { name: 'KafkaJSProtocolError', type: 'TOPIC_AUTHORIZATION_FAILED', retriable: false });
        }
        sent.push(...batches.flatMap((b) => b.messages.map((m) => all.find((e) => e.value === m.value)!.eventId)));
      },
    };
    const connection = { models: { Thing: { schema: { path: (p: string) => p === 'outbox' }, collection, db: { name: 'db' } } } };
    const relay = new OutboxRelay(connection as never, producer as never, new MessagingMetrics(), { serviceName: 'test', brokers: [], relayMaxRecordBytes: 100_000 }, { ensureTopics: async () => undefined, forget: () => undefined } as never);
    await expect(relay.flush()).rejects.toThrow(/^the broker refused refused /);
    expect(sent).toEqual(['last']);
    expect(docs.filter((d) => d.outbox.length)).toHaveLength(250);
  });

  it('a send failing on every partition again (the broker away), or whose partitions no broker tells, fails the drain as before', async () => {
    const { onA, onB } = keysOnTwoPartitions();
    const on = (id: string, key: string, at: number) => ({ ...entry(id, 400), key, createdAt: new Date(at) });
    for (const metadata of ['answers', 'fails'] as const) {
      const docs = [{ _id: 'd1', outbox: [on('a1', onA, 1), on('b1', onB, 2)] }];
      const collection = fakeCollection(docs);
      let sends = 0;
      const producer = {
        sendBatch: async () => {
          sends++;
          throw Object.assign(new Error('Connection error: connect ECONNREFUSED'), { name: 'KafkaJSConnectionError', retriable: true });
        },
      };
      const connection = { models: { Thing: { schema: { path: (p: string) => p === 'outbox' }, collection, db: { name: 'db' } } } };
      const partitionCounts = async (wanted: string[]) => {
        if (metadata === 'fails') throw new Error('Connection error: connect ECONNREFUSED');
        return new Map(wanted.map((t) => [t, 2]));
      };
      const relay = new OutboxRelay(connection as never, producer as never, new MessagingMetrics(), { serviceName: 'test', brokers: [], relayMaxRecordBytes: 100_000 }, { ensureTopics: async () => undefined, forget: () => undefined, partitionCounts } as never);
      await expect(relay.flush()).rejects.toThrow('ECONNREFUSED');
      // The run, then (its partitions known) each of its two partitions once; unknown, the run only.
      expect(sends).toBe(metadata === 'answers' ? 3 : 1);
      expect(docs[0].outbox.map((e) => e.eventId)).toEqual(['a1', 'b1']);
    }
  });
});

describe('OutboxRelay: events of one key go out in the order they were written, across documents', () => {
  type Doc = { _id: string; outbox: OutboxEntry[] };
  const NAMESPACE = 'db.things';
  let clock = 0;
  beforeEach(() => {
    clock = 0;
    jest.spyOn(Date, 'now').mockImplementation(() => clock);
    for (const namespace of [NAMESPACE, 'db.others']) PendingOutboxes.take(namespace);
  });
  afterEach(() => jest.restoreAllMocks());

  /** When each event was built. */
  const builtAt = new Map<string, number>();
  /** An entry of location L built at `at` (the writer's clock). */
  const event = (id: string, at: number): OutboxEntry => {
    builtAt.set(id, at);
    return { eventId: id, topic: 't', key: 'L', value: id, createdAt: new Date(at) };
  };

  /**
   * The documents of one collection in their natural order (a fake of the driver's collection: a pure unit test). A
   * scan finds those with entries; `beforeLookup` runs once, before the next lookup by `_id` answers, and `beforeScan`
   * before the next scan does (writes made while the relay drains).
   */
  function fakeCollection(
    docs: Doc[],
    hooks: { beforeLookup?: () => void; afterLookup?: () => void; beforeScan?: () => void; scanned?: number[] } = {},
    collectionName = 'things',
  ) {
    const project = (doc: Doc, projection: Record<string, unknown> = {}) => ({
      _id: doc._id,
      outbox:
        'outbox.createdAt' in projection
          ? doc.outbox.map((e) => ({ createdAt: e.createdAt, ...('outbox.key' in projection && { key: e.key }) }))
          : doc.outbox.map((e) => ({ ...e })),
    });
    return {
      collectionName,
      find: (filter: { _id?: { $in: string[] } }, options: { projection?: Record<string, unknown> } = {}) => {
        let limit = Infinity;
        const rows = () => {
          if (filter._id) {
            const hook = hooks.beforeLookup;
            hooks.beforeLookup = undefined;
            hook?.();
            const found = docs.filter((d) => filter._id!.$in.includes(d._id)).map((d) => project(d, options.projection));
            const after = hooks.afterLookup;
            hooks.afterLookup = undefined;
            after?.();
            return found;
          }
          const before = hooks.beforeScan;
          hooks.beforeScan = undefined;
          before?.();
          const found = docs.filter((d) => d.outbox.length).slice(0, limit);
          hooks.scanned?.push(found.length);
          return found.map((d) => project(d, options.projection));
        };
        const cursor = {
          limit: (n: number) => ((limit = n), cursor),
          toArray: async () => rows(),
        };
        return cursor;
      },
      updateMany: async (filter: { _id: { $in: string[] } }, update: { $pullAll: { outbox: OutboxEntry[] } }) => {
        for (const doc of docs.filter((d) => filter._id.$in.includes(d._id))) {
          doc.outbox = doc.outbox.filter((e) => !update.$pullAll.outbox.some((p) => p.eventId === e.eventId));
        }
      },
      updateOne: async () => ({ modifiedCount: 0 }),
    };
  }

  function relayOver(...collections: Array<ReturnType<typeof fakeCollection>>) {
    const sent: string[] = [];
    /** Each send's size; `broker.down` makes sends fail, `broker.unauthorized` those to that topic (for good), `broker.refusals` the next ones (each of its types once). */
    const broker = { down: false, sends: [] as number[], unauthorized: undefined as string | undefined, refusals: [] as string[] };
    const producer = {
      sendBatch: async (batches: Array<{ topic: string; messages: Array<{ value: string }> }>) => {
        if (broker.down) throw new Error('broker down');
        const refusal = broker.refusals.shift();
        if (refusal) throw Object.assign(new Error(`refused: ${refusal}`), { name: 'KafkaJSProtocolError', type: refusal, retriable: false });
        if (batches.some((b) => b.topic === broker.unauthorized)) {
          throw Object.assign(new Error(`Not authorized to access topics: [${broker.unauthorized}]`), { name: 'KafkaJSProtocolError', type: 'TOPIC_AUTHORIZATION_FAILED', retriable: false });
        }
        const values = batches.flatMap((b) => b.messages.map((m) => m.value));
        broker.sends.push(values.length);
        sent.push(...values);
      },
    };
    const models = Object.fromEntries(
      collections.map((collection) => [collection.collectionName, { schema: { path: (p: string) => p === 'outbox' }, collection, db: { name: 'db' } }]),
    );
    const connection = { models };
    const topics: { ensureTopics: () => Promise<void> } = { ensureTopics: async () => undefined };
    const relay = new OutboxRelay(connection as never, producer as never, new MessagingMetrics(), { serviceName: 'test', brokers: [], relayIntervalMs: 1_000, relaySweepIntervalMs: 10_000 }, topics as never);
    /** One drain as the relay's timer makes it: of the noted documents, after a scan of one batch (`poll`) or of all. */
    const drain = (sweep: 'full' | 'poll' | false) => {
      const internals = relay as unknown as { sweep: typeof sweep; drain(): Promise<void> };
      internals.sweep = sweep;
      return internals.drain();
    };
    return { relay, sent, drain, broker, producer, topics };
  }

  /** A write as the platform's writers make it: the event is built, the document noted (or a scan asked for), then written. */
  function write(docs: Doc[], id: string, eventId: string, at: number, { namespace = NAMESPACE, key = 'L', noted = true } = {}): void {
    clock = at;
    const entry = { ...event(eventId, at), key };
    // Not noted: a write whose document the hooks cannot name (or past the cap), which asks for a scan instead.
    PendingOutboxes.note(namespace, noted ? id : undefined);
    const doc = docs.find((d) => d._id === id);
    if (doc) doc.outbox.push(entry);
    else docs.push({ _id: id, outbox: [entry] });
  }

  it('noted documents of several lookups: an event written later to an early document waits for the older events of later ones', async () => {
    const docs: Doc[] = [];
    write(docs, 'B', 'b0', 1);
    for (let i = 0; i < 200; i++) write(docs, `f${i}`, `f${i}`, 2 + i);
    write(docs, 'A', 'a1', 300);
    write(docs, 'B', 'b2', 400); // caused by a1: B was noted first, so it is in the first lookup
    const { sent, drain } = relayOver(fakeCollection(docs));
    clock = 500;
    await drain(false);
    expect(sent).toHaveLength(203);
    expect(sent.slice(-3)).toEqual(['f199', 'a1', 'b2']);
    expect(sent).toEqual([...sent].sort((x, y) => builtAt.get(x)! - builtAt.get(y)!));
    expect(docs.every((d) => d.outbox.length === 0)).toBe(true);
  });

  it('a poll does not send what its scan found ahead of older events of noted documents', async () => {
    const docs: Doc[] = [];
    for (let i = 0; i < 200; i++) docs.push({ _id: `u${i}`, outbox: [event(`u${i}`, 10 + i)] }); // by a writer that did not note them
    write(docs, 'X', 'x1', 1); // noted, last in the collection's natural order
    const { sent, drain } = relayOver(fakeCollection(docs));
    clock = ORPHANED_AFTER_MS + 500; // the writer's crash long past
    await drain('poll');
    expect(sent[0]).toBe('x1');
    expect(sent).toHaveLength(201);
    expect(sent.slice(1)).toEqual(Array.from({ length: 200 }, (_, i) => `u${i}`));
  });

  it('a poll whose page is full reads the rest too: a backlog of more than one page goes out in the order it was written', async () => {
    // A crashed writer's backlog, newest documents first in the scan's order (the index's, by event id).
    const docs: Doc[] = Array.from({ length: 250 }, (_, i) => ({ _id: `d${i}`, outbox: [event(`e${249 - i}`, 1_000 - i)] }));
    const scanned: number[] = [];
    const { sent, drain } = relayOver(fakeCollection(docs, { scanned }));
    clock = ORPHANED_AFTER_MS + 1_000; // its oldest event as old as that, the crash long past
    await drain('poll');
    expect(scanned).toEqual([200, 250]);
    expect(sent).toEqual(Array.from({ length: 250 }, (_, i) => `e${i}`));
    expect(docs.every((d) => d.outbox.length === 0)).toBe(true);
  });

  it("a poll whose full page holds young documents nobody here noted leaves that page to their writer (another replica's burst), and reads it all once one is old", async () => {
    const docs: Doc[] = Array.from({ length: 250 }, (_, i) => ({ _id: `r${i}`, outbox: [event(`r${i}`, 1_000 + i)] }));
    write(docs, 'X', 'x1', 2_000); // this replica's own, noted
    const scanned: number[] = [];
    const { sent, drain } = relayOver(fakeCollection(docs, { scanned }));
    clock = 1_000 + ORPHANED_AFTER_MS - 1; // the other replica's oldest entry not that old yet
    await drain('poll');
    expect(scanned).toEqual([200]);
    expect(sent).toEqual(['x1']);

    clock = 1_000 + ORPHANED_AFTER_MS; // still there: its writer is gone
    await drain('poll');
    expect(scanned).toEqual([200, 200, 250]);
    expect(sent).toEqual(['x1', ...Array.from({ length: 250 }, (_, i) => `r${i}`)]);
  });

  it('a poll whose full page holds documents noted since the drain took its notes reads no more (the next drain sends them)', async () => {
    const docs: Doc[] = Array.from({ length: 250 }, (_, i) => ({ _id: `m${i}`, outbox: [event(`m${i}`, 10 + i)] }));
    const scanned: number[] = [];
    // Noted by their writer while this drain scans: after it took its notes.
    const beforeScan = () => docs.forEach((d) => PendingOutboxes.note(NAMESPACE, d._id));
    const { drain } = relayOver(fakeCollection(docs, { scanned, beforeScan }));
    clock = 5_000;
    await drain('poll');
    expect(scanned).toEqual([200]);
  });

  it('a poll whose full page holds noted documents only reads no more (a busy writer: they are in the plan anyway)', async () => {
    const docs: Doc[] = [];
    for (let i = 0; i < 250; i++) write(docs, `n${i}`, `n${i}`, 10 + i);
    const scanned: number[] = [];
    const { sent, drain } = relayOver(fakeCollection(docs, { scanned }));
    clock = 5_000;
    await drain('poll');
    expect(scanned).toEqual([200]);
    expect(sent).toEqual(Array.from({ length: 250 }, (_, i) => `n${i}`));
  });

  it('a sweep sends a backlog of more than one batch in the order it was written', async () => {
    // A crashed writer's backlog, newest documents first in the collection's natural order.
    const docs: Doc[] = Array.from({ length: 450 }, (_, i) => ({ _id: `d${i}`, outbox: [event(`e${449 - i}`, 1_000 - i)] }));
    docs[0].outbox.push(event('e450', 1_001)); // a document with two events, the second newer than every other one
    const { relay, sent } = relayOver(fakeCollection(docs));
    clock = 5_000;
    await relay.flush();
    expect(sent).toEqual([...Array.from({ length: 450 }, (_, i) => `e${i}`), 'e450']);
    expect(docs.every((d) => d.outbox.length === 0)).toBe(true);
  });

  // C's write caused B's, to a document this drain is about to read: noted (C is the next drain's), or not noted (a
  // scan asked for instead: past the cap of noted ids), B's newer event waits for the next drain, after C's.
  it.each([true, false])('an event written after the drain began waits for the next drain, the writes noted: %s', async (noted) => {
    const docs: Doc[] = [];
    write(docs, 'B', 'b0', 1);
    const collection = fakeCollection(docs, {
      beforeLookup: () => {
        write(docs, 'C', 'c1', 11, { noted });
        write(docs, 'B', 'b2', 12, { noted });
      },
    });
    const { sent, drain } = relayOver(collection);
    clock = 10;
    await drain(false);
    expect(sent).toEqual(['b0']);
    await drain(false);
    expect(sent).toEqual(['b0', 'c1', 'b2']);
  });

  it('a flush at shutdown sends everything it read, also what was written while it ran', async () => {
    const docs: Doc[] = [];
    write(docs, 'B', 'b0', 1);
    const collection = fakeCollection(docs, { beforeLookup: () => write(docs, 'B', 'b2', 12) });
    const { relay, sent } = relayOver(collection);
    clock = 10;
    await relay.flush();
    expect(sent).toEqual(['b0', 'b2']);
  });

  it('two collections publishing the same keys: one order across both', async () => {
    const things: Doc[] = [];
    const others: Doc[] = [];
    write(others, 'U', 'u1', 1, { namespace: 'db.others' });
    write(things, 'P', 'p2', 2);
    write(others, 'U', 'u3', 3, { namespace: 'db.others' });
    const { sent, drain } = relayOver(fakeCollection(things), fakeCollection(others, {}, 'others'));
    clock = 10;
    await drain(false);
    expect(sent).toEqual(['u1', 'p2', 'u3']);
  });

  it("two collections, writes made while the first one's scan runs: the second one's are not sent ahead of the first one's", async () => {
    // x1 to a document of `things` while its scan runs (noted for the next drain), then y2, caused by it, to `others`.
    const things: Doc[] = [];
    const others: Doc[] = [];
    const { sent, drain } = relayOver(
      fakeCollection(things, {
        beforeScan: () => {
          write(things, 'X', 'x1', 11);
          write(others, 'Y', 'y2', 12, { namespace: 'db.others' });
        },
      }),
      fakeCollection(others, {}, 'others'),
    );
    clock = 10;
    await drain('poll');
    await drain(false);
    expect(sent).toEqual(['x1', 'y2']);
  });

  it('an insert still running past the grace for a noted document found empty keeps its note: sent, once it lands, before newer events', async () => {
    const docs: Doc[] = [];
    const { sent, drain } = relayOver(fakeCollection(docs));
    let land!: () => void;
    const model = { collection: { collectionName: 'things' }, db: { name: 'db' } };
    const inserting = PendingOutboxes.writing(model, ['E'], () => new Promise<void>((resolve) => (land = resolve)));
    clock = 2_100; // E noted at 0, not inserted yet
    await drain(false);
    docs.push({ _id: 'E', outbox: [event('e1', 0)] });
    land();
    await inserting;
    write(docs, 'F', 'f2', 2_200);
    await drain(false);
    expect(sent).toEqual(['e1', 'f2']);
  });

  it('an entry whose createdAt is missing or unreadable (an older writer) is sent as the oldest, never left behind', async () => {
    const docs: Doc[] = [
      { _id: 'legacy', outbox: [{ ...event('old', 0), createdAt: undefined as never }, event('new', 5)] },
      { _id: 'ok', outbox: [event('ok', 3)] },
      { _id: 'odd', outbox: [{ ...event('odd', 0), createdAt: 'not a date' as never }] },
    ];
    const { relay, sent } = relayOver(fakeCollection(docs));
    clock = 10;
    await relay.flush();
    expect(sent).toEqual(['old', 'odd', 'ok', 'new']);
    expect(docs.every((d) => d.outbox.length === 0)).toBe(true);
  });

  it('a sweep of a backlog whose documents hold keys of their own holds nothing back: each lookup is sent as it is read', async () => {
    // Each document an early and a late event of its own key: no later document can hold an older event of it.
    const docs: Doc[] = Array.from({ length: 1_000 }, (_, i) => ({ _id: `d${i}`, outbox: [{ ...event(`a${i}`, i), key: `K${i}` }, { ...event(`b${i}`, 10_000 + i), key: `K${i}` }] }));
    const { relay, broker } = relayOver(fakeCollection(docs));
    clock = 20_000;
    await relay.flush();
    expect(broker.sends).toEqual([400, 400, 400, 400, 400]);
  });

  it('one key across the whole backlog: held back while older events of it wait in unread documents, in order', async () => {
    const docs: Doc[] = Array.from({ length: 450 }, (_, i) => ({ _id: `d${i}`, outbox: [event(`a${i}`, i), event(`b${i}`, 10_000 + i)] }));
    const { relay, sent, broker } = relayOver(fakeCollection(docs));
    clock = 20_000;
    await relay.flush();
    expect(broker.sends).toEqual([200, 200, 500]);
    expect(sent).toEqual([...docs.map((_, i) => `a${i}`), ...docs.map((_, i) => `b${i}`)]);
  });

  // One producer's requests to a partition must not overlap: when one fails (a run the broker refuses as too large),
  // KafkaJS rolls back that partition's sequence numbers, and the other is refused with OUT_OF_ORDER_SEQUENCE_NUMBER.
  it('never drains beside a flush: a kick meanwhile (its timer, a write) drains after it', async () => {
    const docs: Doc[] = [{ _id: 'd0', outbox: [event('e0', 1)] }];
    const { relay, producer } = relayOver(fakeCollection(docs));
    const internals = relay as unknown as { stopped: boolean; running?: Promise<void> };
    internals.stopped = false; // started by hand: no timer
    let inFlight = 0;
    let most = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const send = producer.sendBatch;
    producer.sendBatch = async (batches) => {
      most = Math.max(most, ++inFlight);
      await held;
      await send(batches);
      inFlight--;
    };
    const flushed = relay.flush();
    await new Promise((resolve) => setTimeout(resolve, 10));
    write(docs, 'd1', 'e1', 2);
    relay.kick();
    await new Promise((resolve) => setTimeout(resolve, 10));
    release();
    await flushed;
    await internals.running;
    expect(most).toBe(1);
    expect(docs.map((d) => d.outbox.length)).toEqual([0, 0]);
    internals.stopped = true;
  });

  it('after a failed drain the next waits, longer after each failure: a broker outage does not rescan the backlog every second', async () => {
    const docs: Doc[] = Array.from({ length: 300 }, (_, i) => ({ _id: `d${i}`, outbox: [event(`e${i}`, i)] }));
    const scanned: number[] = [];
    const { relay, sent, broker } = relayOver(fakeCollection(docs, { scanned }));
    const internals = relay as unknown as { stopped: boolean; running?: Promise<void> };
    internals.stopped = false;
    broker.down = true;
    const kickAt = async (at: number) => {
      clock = at;
      relay.kick();
      await internals.running;
    };
    await kickAt(1_000); // fails: next not before 2,000
    await kickAt(1_500);
    await kickAt(2_000); // fails: next not before 4,000
    await kickAt(3_000);
    expect(scanned).toEqual([300, 300]);
    broker.down = false;
    await kickAt(4_000);
    expect(scanned).toEqual([300, 300, 300]);
    expect(sent).toHaveLength(300);
    await kickAt(4_001); // back to normal: no wait
    expect(scanned).toEqual([300, 300, 300]);
    internals.stopped = true;
  });

  // A topic nobody in the platform reads (so no consumer creates it) on a cluster where the service may not create it.
  it("holds back only the events of a topic the broker refuses to create, publishes every other topic's, and asks again a minute later", async () => {
    const refusal = () => Object.assign(new Error('Topic creation errors'), { name: 'KafkaJSAggregateError', errors: [Object.assign(new Error('Not authorized'), { topic: 'u', type: 'TOPIC_AUTHORIZATION_FAILED', retriable: false })] });
    const docs: Doc[] = [{ _id: 'd1', outbox: [event('e1', 1), { ...event('e2', 2), topic: 'u' }, event('e3', 3)] }];
    const { relay, sent, drain, topics } = relayOver(fakeCollection(docs));
    const asked: string[][] = [];
    let creatable = false;
    (topics as unknown as { ensureTopics: (t: string[]) => Promise<void> }).ensureTopics = async (wanted: string[]) => {
      asked.push(wanted);
      if (wanted.includes('u') && !creatable) throw refusal();
    };
    (relay as unknown as { produced: string[] }).produced = ['t', 'u'];
    clock = 10_000;
    await expect(drain('full')).rejects.toThrow(/refused u .*TOPIC_AUTHORIZATION_FAILED/);
    expect(sent).toEqual(['e1', 'e3']);
    expect(docs[0].outbox.map((e) => e.eventId)).toEqual(['e2']);
    expect(asked).toEqual([['t', 'u'], ['t'], ['u']]);
    // Within the minute: not asked again; still held back. Kicked (a write), the drain that holds it back leaves no wait
    // before the next one, nor a full sweep: the other topics' events go out as they are written.
    asked.length = 0;
    const internals = relay as unknown as { stopped: boolean; running?: Promise<void>; retryAt: number; sweep: unknown };
    internals.stopped = false;
    internals.sweep = false;
    docs.push({ _id: 'd2', outbox: [event('e4', 4)] });
    relay.kick();
    await internals.running;
    internals.stopped = true;
    expect(asked).toEqual([['t']]);
    expect(sent).toEqual(['e1', 'e3']); // d2 was not noted: the next poll or sweep finds it
    expect({ retryAt: internals.retryAt, sweep: internals.sweep }).toEqual({ retryAt: 0, sweep: false });
    await expect(drain('poll')).rejects.toThrow(/refused u/);
    expect(sent).toEqual(['e1', 'e3', 'e4']);
    // A minute on, created now (a permission granted): its events go out.
    creatable = true;
    asked.length = 0;
    clock = 70_001;
    await drain('full');
    expect(asked).toEqual([['t', 'u']]);
    expect(sent).toEqual(['e1', 'e3', 'e4', 'e2']);
  });

  it('events a refused topic held back go ahead of later ones of their keys once it is accepted: sent to again after relaySweepIntervalMs, by the next drain that publishes, which reads their documents again', async () => {
    const docs: Doc[] = [];
    const { sent, drain, broker } = relayOver(fakeCollection(docs));
    broker.unauthorized = 't'; // WRITE not granted yet on the topic a release added
    write(docs, 'A', 'a1', 1);
    clock = 10;
    await expect(drain(false)).rejects.toThrow(/refused t /);
    expect(sent).toEqual([]);
    // Nothing else written: A is not read again (its send would be refused again and fail the drain).
    clock = 20;
    await expect(drain(false)).resolves.toBeUndefined();

    // Granted. Another document, the same key (only B is noted): within relaySweepIntervalMs of the refusal the topic is
    // not sent to, and b2 is held back with a1.
    broker.unauthorized = undefined;
    write(docs, 'B', 'b2', 30);
    clock = 40;
    await expect(drain(false)).rejects.toThrow(/refused t /);
    expect(sent).toEqual([]);
    // Past it, the next drain that publishes anything sends them first, in order.
    write(docs, 'C', 'c3', 10_020);
    clock = 10_030;
    await drain(false);
    expect(sent).toEqual(['a1', 'b2', 'c3']);
    expect(docs.every((d) => d.outbox.length === 0)).toBe(true);
  });

  it('a poll whose full page holds documents held back before (a refused topic) reads the rest once one is old: an orphan there goes out', async () => {
    const docs: Doc[] = [];
    const { sent, drain, broker } = relayOver(fakeCollection(docs));
    broker.unauthorized = 'u';
    for (let i = 0; i < 200; i++) {
      docs.push({ _id: `h${i}`, outbox: [{ ...event(`h${i}`, 1 + i), topic: 'u', key: `K${i}` }] });
      PendingOutboxes.note(NAMESPACE, `h${i}`);
    }
    clock = 300;
    await expect(drain(false)).rejects.toThrow(/refused u /);
    // A crashed writer's document, noted by nobody, after them in the index's order.
    docs.push({ _id: 'orphan', outbox: [event('o1', 400)] });
    clock = 400 + 3 * 60_000;
    await expect(drain('poll')).rejects.toThrow(/refused u /);
    expect(sent).toEqual(['o1']);
  });

  it("another refusal no retry mends (the idempotent producer's, which a new producer clears) is sent again by the next drain, no wait", async () => {
    const docs: Doc[] = [];
    const { sent, drain, broker } = relayOver(fakeCollection(docs));
    write(docs, 'A', 'a1', 1);
    // The run, then the topic alone: both refused, a1 held back.
    broker.refusals = ['INVALID_PRODUCER_EPOCH', 'INVALID_PRODUCER_EPOCH'];
    clock = 10;
    await expect(drain(false)).rejects.toThrow(/refused t /);
    expect(sent).toEqual([]);
    write(docs, 'B', 'b2', 20);
    clock = 30;
    await drain(false);
    expect(sent).toEqual(['a1', 'b2']);
  });

  it("logs a failed drain a request kicked outside that request's trace and log binding: the drain is every writer's", async () => {
    const { relay, broker } = relayOver(fakeCollection([{ _id: 'd1', outbox: [event('e1', 1)] }]));
    const internals = relay as unknown as { stopped: boolean; running?: Promise<void>; logger: { warn: (line: string) => void } };
    internals.stopped = false;
    broker.down = true;
    const logged: Array<{ line: string; trace?: TraceContext; request?: unknown }> = [];
    internals.logger = { warn: (line) => void logged.push({ line, trace: Trace.current(), request: requestLogs.getStore() }) };
    clock = 10_000;
    requestLogs.run(new Store(pino({ enabled: false })), () => Trace.run({ correlationId: 'c-1', causationId: 'request-1' }, () => relay.kick()));
    await internals.running;
    internals.stopped = true;
    expect(logged).toEqual([{ line: expect.stringContaining('will retry'), trace: undefined, request: undefined }]);
  });

  it('tells /metrics the age of the oldest event it has not published (failed, or a send still waiting), the failures in a row and its last success', async () => {
    const docs: Doc[] = [
      { _id: 'd0', outbox: [event('e0', 1_000)] },
      { _id: 'd1', outbox: [event('e1', 3_000)] },
    ];
    const { relay, broker, producer } = relayOver(fakeCollection(docs));
    const internals = relay as unknown as { stopped: boolean; running?: Promise<void>; status: RelayStatus };
    internals.stopped = false; // started by hand: no timer
    clock = 500;
    relay.onApplicationBootstrap();
    const figure = async (name: string) => (await (register.getSingleMetric(name) as Gauge).get()).values[0]?.value;
    const kickAt = async (at: number) => {
      clock = at;
      relay.kick();
      await internals.running;
    };
    try {
      broker.down = true;
      await kickAt(5_000);
      expect(await figure('outbox_oldest_unpublished_seconds')).toBe(4);
      clock = 6_500;
      expect(await figure('outbox_oldest_unpublished_seconds')).toBe(5.5);
      await kickAt(7_000); // the second failure
      expect(await figure('outbox_relay_consecutive_failures')).toBe(2);
      expect(await figure('outbox_relay_last_success_timestamp_seconds')).toBe(0.5); // none yet: its start
      broker.down = false;
      await kickAt(9_000);
      expect(docs.every((doc) => doc.outbox.length === 0)).toBe(true);
      expect(await figure('outbox_oldest_unpublished_seconds')).toBe(0);
      expect(await figure('outbox_relay_consecutive_failures')).toBe(0);
      expect(await figure('outbox_relay_last_success_timestamp_seconds')).toBe(9);

      // A send that does not come back: the event it holds ages while the drain waits.
      let answer = () => {};
      const send = producer.sendBatch;
      producer.sendBatch = (batches) => new Promise<void>((resolve) => (answer = () => resolve(send(batches))));
      write(docs, 'd2', 'e2', 10_000);
      clock = 10_000;
      relay.kick();
      await new Promise((resolve) => setImmediate(resolve));
      clock = 12_500;
      expect(await figure('outbox_oldest_unpublished_seconds')).toBe(2.5);
      answer();
      await internals.running;
      expect(await figure('outbox_oldest_unpublished_seconds')).toBe(0);
      expect(await figure('outbox_relay_last_success_timestamp_seconds')).toBe(12.5);
    } finally {
      await relay.onApplicationShutdown();
    }
  });

  it('an entry without a time, failing drain after drain, ages from the first failure (each retry is a new drain)', async () => {
    const docs: Doc[] = [{ _id: 'd0', outbox: [{ eventId: 'old', topic: 't', key: 'L', value: 'old' } as OutboxEntry] }];
    const { relay, broker } = relayOver(fakeCollection(docs));
    const internals = relay as unknown as { stopped: boolean; running?: Promise<void>; status: RelayStatus };
    internals.stopped = false;
    relayStatuses.add(internals.status);
    const age = async () => (await (register.getSingleMetric('outbox_oldest_unpublished_seconds') as Gauge).get()).values[0]?.value;
    try {
      broker.down = true;
      for (const at of [1_000, 11_000, 21_000, 31_000]) {
        clock = at;
        relay.kick();
        await internals.running;
      }
      clock = 40_000;
      expect(await age()).toBe(39);
    } finally {
      relayStatuses.delete(internals.status);
      internals.stopped = true;
    }
  });

  it('creates its topics before it reads anything: a broker down at start costs no scan of the outboxes per retry', async () => {
    const docs: Doc[] = [{ _id: 'd0', outbox: [event('e0', 1_000)] }];
    const scanned: number[] = [];
    const { drain, topics } = relayOver(fakeCollection(docs, { scanned }));
    topics.ensureTopics = async () => {
      throw new Error('broker down');
    };
    await expect(drain('full')).rejects.toThrow('broker down');
    expect(scanned).toEqual([]);
  });

  it('an ObjectId noted after the same hex as a string is looked up as an ObjectId', async () => {
    const id = new Types.ObjectId();
    const lookups: unknown[][] = [];
    const collection = {
      ...fakeCollection([]),
      find: (filter: { _id?: { $in: unknown[] } }) => {
        if (filter._id) lookups.push(filter._id.$in);
        return { limit: () => undefined, toArray: async () => [] };
      },
    };
    PendingOutboxes.note(NAMESPACE, id.toHexString());
    PendingOutboxes.note(NAMESPACE, id);
    const { drain } = relayOver(collection as never);
    await drain(false);
    expect(lookups.flat()).toEqual([id.toHexString(), id]);
  });

  it("keeps each document's entries in their array order, even when a writer's clock ran behind", async () => {
    // e2 was appended after e1 by a writer whose clock is 2 s behind: the array is the commit order.
    const docs: Doc[] = [{ _id: 'd', outbox: [event('e1', 5_000), event('e2', 3_000)] }];
    const { relay, sent } = relayOver(fakeCollection(docs));
    clock = 10_000;
    await relay.flush();
    expect(sent).toEqual(['e1', 'e2']);
  });

  it('interleaves documents by creation time', async () => {
    const docs: Doc[] = [
      { _id: 'a', outbox: [event('a1', 1), event('a2', 4)] },
      { _id: 'b', outbox: [event('b1', 2), event('b2', 3)] },
    ];
    const { relay, sent } = relayOver(fakeCollection(docs));
    clock = 10;
    await relay.flush();
    expect(sent).toEqual(['a1', 'b1', 'b2', 'a2']);
  });

  it('a write still running when its document is read goes out with the next drain, before what it caused', async () => {
    const docs: Doc[] = [];
    write(docs, 'A', 'a0', 1);
    // A second write to A, noted and running before the drain takes the ids; it commits only after A was read.
    clock = 2;
    PendingOutboxes.note(NAMESPACE, 'A');
    const end = PendingOutboxes.begin(NAMESPACE, ['A']);
    const collection = fakeCollection(docs, {
      afterLookup: () => {
        docs.find((d) => d._id === 'A')!.outbox.push(event('a1', 2));
        end();
        write(docs, 'F', 'f', 5); // caused by a1
      },
    });
    const { sent, drain } = relayOver(collection);
    clock = 3;
    await drain(false);
    expect(sent).toEqual(['a0']);
    clock = 10;
    await drain(false);
    expect(sent).toEqual(['a0', 'a1', 'f']);
  });

  it('marks a write running from begin to its end, and forgets one never ended after 30 s', () => {
    clock = 1_000;
    const end = PendingOutboxes.begin(NAMESPACE, ['R']);
    const other = PendingOutboxes.begin(NAMESPACE, ['R']);
    expect(PendingOutboxes.isWriting(NAMESPACE, 'R')).toBe(true);
    end();
    end();
    expect(PendingOutboxes.isWriting(NAMESPACE, 'R')).toBe(true);
    other();
    expect(PendingOutboxes.isWriting(NAMESPACE, 'R')).toBe(false);
    const never = PendingOutboxes.begin(NAMESPACE, ['S']);
    clock = 31_000;
    expect(PendingOutboxes.isWriting(NAMESPACE, 'S')).toBe(false);
    // Its end arriving after it was forgotten leaves a later write's mark alone.
    const later = PendingOutboxes.begin(NAMESPACE, ['S']);
    never();
    expect(PendingOutboxes.isWriting(NAMESPACE, 'S')).toBe(true);
    later();
    expect(PendingOutboxes.isWriting(NAMESPACE, 'S')).toBe(false);
  });
});
