import { MessagingMetrics } from './metrics';
import { byteChunks, OutboxRelay, recordBytes } from './outbox-relay';
import { OutboxEntry } from './outbox';

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
      find: () => ({ limit: () => ({ toArray: async () => docs.filter((d) => d.outbox.length).map((d) => ({ _id: d._id, outbox: [...d.outbox] })) }) }),
      updateMany: async (filter: { _id: { $in: string[] } }, update: { $pullAll: { outbox: OutboxEntry[] } }) => {
        for (const doc of docs.filter((d) => filter._id.$in.includes(d._id))) {
          doc.outbox = doc.outbox.filter((e) => !update.$pullAll.outbox.some((p) => p.eventId === e.eventId));
        }
      },
      updateOne: async () => ({ modifiedCount: 0 }),
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
});
