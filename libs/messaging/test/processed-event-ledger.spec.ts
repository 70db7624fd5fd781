import { randomUUID } from 'node:crypto';
import { LedgerRetention } from '@lib/platform';
import { uniqueName } from '@lib/testing';
import mongoose, { Connection } from 'mongoose';
import { ProcessedEventLedger } from '../src/processed-event-ledger';

// Against the test database server (real connections): which events a group has applied, by eventId.
let connection: Connection;
let ledger: ProcessedEventLedger;

beforeAll(async () => {
  connection = await mongoose.createConnection(process.env.MONGO_URL!, { dbName: uniqueName('ledger'), directConnection: true }).asPromise();
  ledger = new ProcessedEventLedger(connection);
});

afterAll(async () => {
  await connection.dropDatabase();
  await connection.close();
});

const origin = { topic: 'eligibility.decisions.v1', partition: 0, offset: '7' };

describe('ProcessedEventLedger', () => {
  it('knows an event applied by its group, in either case of its UUID (re-sent upper-cased, it is still a duplicate), and no other', async () => {
    const applied = '7f0c6a52-3b7e-4c38-9a51-2f4d5b1e8c90';
    const other = '0d4be8e1-5a43-4e1e-8f4b-7c2a9d6e1f30';
    await ledger.recordMany('enrollment', [{ eventId: applied.toUpperCase(), ...origin }]);
    expect(await ledger.processed(['enrollment'], [applied, applied.toUpperCase(), other])).toEqual(new Set([applied, applied.toUpperCase()]));
    expect(await ledger.processed(['invitations'], [applied])).toEqual(new Set());
    // Recorded again in the other case: one entry.
    await ledger.recordMany('enrollment', [{ eventId: applied, ...origin }]);
    expect(await connection.collection('processed_events').countDocuments({})).toBe(1);
  });

  it('still knows an id an earlier release recorded as its message named it (upper-cased)', async () => {
    const legacy = 'A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D';
    await connection.collection('processed_events').insertOne({ _id: `enrollment:${legacy}` as never, ...origin, processedAt: new Date() });
    expect(await ledger.processed(['enrollment'], [legacy, legacy.toLowerCase()])).toEqual(new Set([legacy, legacy.toLowerCase()]));
  });

  it('keeps entries for PROCESSED_EVENTS_RETENTION_MS (then the event is no longer known as applied), and forever with 0', async () => {
    const old = randomUUID();
    const recent = randomUUID();
    await ledger.recordMany('retention', [{ eventId: old, ...origin }, { eventId: recent, ...origin }]);
    const day = 86_400_000;
    await connection.collection('processed_events').updateOne({ _id: `retention:${old}` as never }, { $set: { processedAt: new Date(Date.now() - 8 * day) } });
    const retention = (ms: number) => new LedgerRetention(connection, { PROCESSED_EVENTS_RETENTION_MS: ms }, ledger);

    expect(await retention(0).removeExpired()).toBe(0);
    expect(await ledger.processed(['retention'], [old, recent])).toEqual(new Set([old, recent]));

    expect(await retention(7 * day).removeExpired()).toBe(1);
    expect(await ledger.processed(['retention'], [old, recent])).toEqual(new Set([recent]));
  });

  it('tells the dead-lettered events not applied since, once each; refused for good they never count; applied ones stay settled once the ledger forgets them', async () => {
    const group = `dead-${randomUUID().slice(0, 8)}`;
    const [open, replayed, refused, otherTopic] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const letter = (eventId: string, permanent = false, topic = 'agreements.status.v1') =>
      ledger.recordDeadLetter(group, { eventId, type: 'AgreementStatusChanged', topic, partition: 0, offset: '1', error: 'kept failing', permanent });
    await letter(open);
    await letter(replayed);
    await letter(refused);
    await letter(otherTopic, false, 'another.topic.v1');
    // Its replay refused for good: the latest failure wins.
    await letter(refused, true);
    const unapplied = async () => (await ledger.unapplied([group], ['agreements.status.v1'])).map((f) => f.eventId).sort();
    expect(await unapplied()).toEqual([open, replayed].sort());

    // Replayed and applied: recorded in the ledger, then its entry removed by the retention (the sweep settles first).
    await ledger.recordMany(group, [{ eventId: replayed, ...origin }]);
    await connection.collection('processed_events').updateOne({ _id: `${group}:${replayed}` as never }, { $set: { processedAt: new Date(Date.now() - 8 * 86_400_000) } });
    expect(await new LedgerRetention(connection, { PROCESSED_EVENTS_RETENTION_MS: 7 * 86_400_000 }, ledger).removeExpired()).toBeGreaterThanOrEqual(1);
    expect(await ledger.processed([group], [replayed])).toEqual(new Set());
    expect(await unapplied()).toEqual([open]);
    expect((await ledger.unapplied([group])).map((f) => f.eventId).sort()).toEqual([open, otherTopic].sort());
    // Applied once, then failing again (a replay of it): open again.
    await letter(replayed);
    expect(await unapplied()).toEqual([open, replayed].sort());
  });

  it('reads the open dead letters by an index (the refused and the applied ones stay until removed by hand), built by the first one recorded', async () => {
    const fresh = await mongoose.createConnection(process.env.MONGO_URL!, { dbName: uniqueName('ledger-index'), directConnection: true }).asPromise();
    try {
      await new ProcessedEventLedger(fresh).recordDeadLetter('enrollment', {
        eventId: randomUUID(), type: 'AgreementStatusChanged', topic: 'agreements.status.v1', partition: 0, offset: '1', error: 'kept failing', permanent: false,
      });
      const keys = (await fresh.collection('dead_lettered_events').indexes()).map((index) => index.key);
      // The query's equality fields (`permanent`, `appliedAt` missing: null), then its sort.
      expect(keys).toContainEqual({ permanent: 1, appliedAt: 1, failedAt: 1, _id: 1 });
    } finally {
      await fresh.dropDatabase();
      await fresh.close();
    }
  });

  it('checks the open records a page at a time against the ledger, and returns the oldest `limit`', async () => {
    const group = `bulk-${randomUUID().slice(0, 8)}`;
    const failedAt = Date.now() - 3_600_000;
    const ids = Array.from({ length: 1_100 }, () => randomUUID());
    await connection.collection('dead_lettered_events').insertMany(
      ids.map((eventId, i) => ({ _id: `${group}:${eventId}` as never, groupId: group, eventId, type: 'T', topic: 't.v1', partition: 0, offset: String(i), error: 'e', permanent: false, failedAt: new Date(failedAt + i) })),
    );
    // Every third applied since.
    await ledger.recordMany(group, ids.filter((_, i) => i % 3 === 0).map((eventId) => ({ eventId, ...origin })));
    const open = ids.filter((_, i) => i % 3 !== 0);
    expect((await ledger.unapplied([group], ['t.v1'], 10)).map((f) => f.eventId)).toEqual(open.slice(0, 10));
    expect((await ledger.unapplied([group], ['t.v1'], 5_000)).map((f) => f.eventId)).toEqual(open);
    expect(await connection.collection('dead_lettered_events').countDocuments({ groupId: group, appliedAt: { $exists: true } })).toBe(ids.length - open.length);
  });
});
