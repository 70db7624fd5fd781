/**
 * Starts mongo-java-server 1.46 (the platform's local MongoDB, deploy/local/mongo) with both backends the platform
 * runs it with: in memory (tests) and an H2 file (`npm start`). It asserts, through the Node.js driver (and mongoose
 * where the services go through it), the MongoDB behaviours the platform's code relies on:
 *
 * - the outbox: `$push` of events with the state change, the relay's `{ 'outbox.0': { $exists: true } }` scan and its
 *   removal of exactly the published entries (`updateMany` by `_id $in` with `$pullAll`), the hidden `outbox` field;
 * - atomic single-document updates under concurrency: optimistic concurrency (`{ _id, version }`: exactly one winner),
 *   concurrent `$push` / `$inc` all kept, claims with `findOneAndUpdate` taken once;
 * - upserts: `$setOnInsert`, `findOneAndUpdate` with `upsert`, the revision guard of `upsertIfNewer` (a stale guard
 *   collides on `_id` with 11000), "newer wins" among concurrent facts;
 * - unique indexes and duplicate keys (code 11000), reported per operation by unordered `insertMany` / `bulkWrite`;
 * - unordered `bulkWrite` results, `updateMany` by `_id $in`, the queries, projections, sorts and cursors in use.
 *
 * FerretDB's support is checked separately by ferretdb.spec.ts; the concurrency tests here are the ones it fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  BulkWriteBatcher,
  isDuplicateKey,
  OutboxEntry,
  outboxPlugin,
  PENDING_OUTBOX,
  PENDING_OUTBOX_INDEX,
  pushOutbox,
  removePublished,
  REVISION_GUARD_INDEX,
  upsertIfNewer,
  WRITE_REVISION,
} from '@lib/messaging';
import { Collection, Db, Document, MongoBulkWriteError, MongoClient } from 'mongodb';
import mongoose, { Connection, Schema } from 'mongoose';
import type { MongoServer } from './ferretdb';
import { startMongoJavaServer } from './mongo-java-server';

jest.setTimeout(120_000);

const ROOT = resolve(__dirname, '../../../..');

/** A stored document: string `_id`s, as the services use. */
interface Row extends Document {
  _id: string;
  outbox?: OutboxEntry[];
}

const entry = (eventId: string, topic = 'platform.test.v1', at = new Date()): OutboxEntry => ({
  eventId,
  topic,
  key: 'k',
  value: JSON.stringify({ eventId }),
  createdAt: at,
});

/** Runs `n` calls of `fn` concurrently (all issued before any answer) and returns their results in order. */
const concurrently = <T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> => Promise.all(Array.from({ length: n }, (_, i) => fn(i)));

/** The rejection of `promise` (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Record<string, unknown>;
  }
  throw new Error('expected the operation to fail, it succeeded');
}

describe.each([
  { backend: 'memory', persisted: false },
  { backend: 'H2 file', persisted: true },
])('mongo-java-server ($backend backend)', ({ persisted }) => {
  let server: MongoServer;
  let dataDir: string;
  let client: MongoClient;
  let db: Db;
  let conn: Connection;
  let collections = 0;
  /** A fresh collection per test. */
  const fresh = (): Collection<Row> => db.collection<Row>(`c${++collections}`);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'mongo-java-server-spec-'));
    server = await startMongoJavaServer({ root: ROOT, dataDir, persistFile: persisted ? join(dataDir, 'spec.mv.db') : undefined });
    client = await MongoClient.connect(server.url, { directConnection: true, serverSelectionTimeoutMS: 5_000 });
    db = client.db('compat');
    conn = await mongoose.createConnection(server.url, { dbName: 'compat_mongoose', serverSelectionTimeoutMS: 5_000 }).asPromise();
  }, 600_000); // a cold Maven fetch of the jars

  afterAll(async () => {
    await conn?.close();
    await client?.close();
    await server?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  describe('outbox', () => {
    it('$push of events ($each) in the same update as the state change, in order, fields and Dates kept', async () => {
      const c = fresh();
      const at = new Date('2024-05-01T10:00:00.123Z');
      const first = await c.updateOne(
        { _id: 'w1' },
        { $set: { status: 'A' }, $inc: { version: 1 }, $push: pushOutbox([entry('e1', 't', at), entry('e2', 't', at)]) as never },
        { upsert: true },
      );
      expect(first.upsertedId).toBe('w1');
      await c.updateOne({ _id: 'w1' }, { $set: { status: 'B' }, $inc: { version: 1 }, $push: pushOutbox([entry('e3', 'u', at)]) as never });
      const doc = await c.findOne({ _id: 'w1' });
      expect(doc).toMatchObject({ status: 'B', version: 2 });
      expect(doc?.outbox).toEqual([entry('e1', 't', at), entry('e2', 't', at), entry('e3', 'u', at)]);
    });

    it("the relay's scan: PENDING_OUTBOX ({ 'outbox.eventId': { $gt: '' } }) in find (projection, limit) and countDocuments; an emptied or missing outbox is not pending", async () => {
      const c = fresh();
      await c.createIndex(PENDING_OUTBOX_INDEX);
      const a1 = entry('a1');
      await c.insertMany([
        { _id: 'a', outbox: [a1], other: 1 },
        { _id: 'b', outbox: [] },
        { _id: 'c', other: 2 },
        { _id: 'd', outbox: [entry('d1'), entry('d2')], other: 3 },
      ]);
      expect(await c.countDocuments(PENDING_OUTBOX)).toBe(2);
      const pending = await c.find(PENDING_OUTBOX, { projection: { outbox: 1 } }).sort({ _id: 1 }).limit(10).toArray();
      expect(pending.map((d) => Object.keys(d).sort())).toEqual([
        ['_id', 'outbox'],
        ['_id', 'outbox'],
      ]);
      expect(pending.map((d) => (d.outbox as OutboxEntry[]).map((e) => e.eventId))).toEqual([['a1'], ['d1', 'd2']]);
      expect(await c.find(PENDING_OUTBOX).limit(1).toArray()).toHaveLength(1);
      // Published (the relay's $pullAll empties the array), then given an entry again.
      await c.updateOne({ _id: 'a' }, { $pullAll: { outbox: [a1] } } as never);
      await c.updateOne({ _id: 'b' }, { $push: pushOutbox([entry('b1')]) as never });
      expect((await c.find(PENDING_OUTBOX, { projection: { _id: 1 } }).toArray()).map((d) => d._id).sort()).toEqual(['b', 'd']);
    });

    it('removePublished: updateMany by _id $in with $pullAll removes exactly the entries read; entries pushed after the read stay', async () => {
      const c = fresh();
      await c.insertMany([
        { _id: 'p1', outbox: [entry('p1-1'), entry('p1-2')] },
        { _id: 'p2', outbox: [entry('p2-1')] },
        { _id: 'p3', outbox: [entry('p3-1')] },
        { _id: 'untouched', outbox: [entry('u-1')] },
      ]);
      const read = (await c.find({ _id: { $in: ['p1', 'p2', 'p3'] } }, { projection: { outbox: 1 } }).toArray()) as unknown as Array<{
        _id: string;
        outbox: OutboxEntry[];
      }>;
      // Written between the relay's read and its removal.
      await c.updateOne({ _id: 'p1' }, { $push: pushOutbox([entry('p1-3')]) as never });
      await c.updateOne({ _id: 'p3' }, { $push: pushOutbox([entry('p3-2')]) as never });

      await removePublished(c as never, read);

      const after = await c.find({}, { sort: { _id: 1 } }).toArray();
      expect(after.map((d) => [d._id, (d.outbox as OutboxEntry[]).map((e) => e.eventId)])).toEqual([
        ['p1', ['p1-3']],
        ['p2', []],
        ['p3', ['p3-2']],
        ['untouched', ['u-1']],
      ]);
      expect(await c.countDocuments({ 'outbox.0': { $exists: true } })).toBe(3);
    });

    it('mongoose outboxPlugin: outbox hidden by default (select: false), read with +outbox, written with $push', async () => {
      const schema = new Schema({ _id: String, name: String, version: Number }, { versionKey: false });
      schema.plugin(outboxPlugin);
      const Widgets = conn.model('Widget', schema, `widgets_${persisted ? 'h2' : 'mem'}`);
      // As services do before they write (ModelsReady in libs/platform): mongoose creates the collection and its
      // indexes in the background, and on this server a write racing that creation can be lost.
      await Widgets.init();
      await Widgets.deleteMany({});
      await Widgets.updateOne({ _id: 'w' }, { $set: { name: 'one', version: 1 }, $push: pushOutbox([entry('w1')]) }, { upsert: true });
      const plain = await Widgets.findById('w').lean();
      expect(plain).toEqual({ _id: 'w', name: 'one', version: 1 });
      const withOutbox = await Widgets.findById('w').select('+outbox').lean<{ outbox: OutboxEntry[] }>();
      expect(withOutbox?.outbox.map((e) => e.eventId)).toEqual(['w1']);
      // invitations: findOneAndUpdate guarded by version, with +outbox (no projection sent).
      const found = await Widgets.findOneAndUpdate({ _id: 'w', version: 1 }, { $set: { name: 'two' }, $inc: { version: 1 }, $push: pushOutbox([entry('w2')]) })
        .select('+outbox')
        .lean<{ name: string; outbox: OutboxEntry[] }>();
      expect(found?.name).toBe('one'); // the document before the update
      const stale = await Widgets.findOneAndUpdate({ _id: 'w', version: 1 }, { $set: { name: 'three' }, $inc: { version: 1 } }).lean();
      expect(stale).toBeNull();
      expect(await Widgets.findById('w').select('+outbox').lean()).toMatchObject({ name: 'two', version: 2, outbox: [{ eventId: 'w1' }, { eventId: 'w2' }] });
      // The relay's scan for pending entries (PENDING_OUTBOX) has an index on MongoDB: a range of eventIds, which
      // documents with an empty or no outbox are outside of.
      expect((await Widgets.collection.indexes()).map((index) => index.key)).toContainEqual({ 'outbox.eventId': 1 });
    });
  });

  describe('atomic single-document updates under concurrency', () => {
    it('50 concurrent $push to one document keep all 50 (and 50 concurrent $inc count 50)', async () => {
      const c = fresh();
      await c.insertOne({ _id: 'hot', outbox: [], n: 0 });
      const results = await concurrently(50, (i) => c.updateOne({ _id: 'hot' }, { $push: pushOutbox([entry(`e${i}`)]) as never, $inc: { n: 1 } }));
      expect(results.every((r) => r.matchedCount === 1 && r.modifiedCount === 1)).toBe(true);
      const doc = await c.findOne({ _id: 'hot' });
      expect(doc?.n).toBe(50);
      expect(new Set((doc?.outbox as OutboxEntry[]).map((e) => e.eventId)).size).toBe(50);
    });

    it('20 concurrent updates guarded by { _id, version }: exactly one matches, the version moves by one', async () => {
      const c = fresh();
      await c.insertOne({ _id: 'oc', version: 7, status: 'start' });
      const results = await concurrently(20, (i) =>
        c.updateOne({ _id: 'oc', version: 7 }, { $set: { status: `writer-${i}` }, $inc: { version: 1 }, $push: pushOutbox([entry(`oc-${i}`)]) as never }),
      );
      const winners = results.flatMap((r, i) => (r.matchedCount === 1 ? [i] : []));
      expect(winners).toHaveLength(1);
      expect(results.reduce((n, r) => n + r.modifiedCount, 0)).toBe(1);
      const doc = await c.findOne({ _id: 'oc' });
      expect(doc).toMatchObject({ version: 8, status: `writer-${winners[0]}` });
      expect((doc?.outbox as OutboxEntry[]).map((e) => e.eventId)).toEqual([`oc-${winners[0]}`]);
      // Stale afterwards, too.
      expect((await c.updateOne({ _id: 'oc', version: 7 }, { $inc: { version: 1 } })).matchedCount).toBe(0);
    });

    it('20 concurrent findOneAndUpdate guarded by { _id, version }: exactly one gets the document', async () => {
      const c = fresh();
      await c.insertOne({ _id: 'inv', version: 1, state: 'SENT' });
      const found = await concurrently(20, (i) => c.findOneAndUpdate({ _id: 'inv', version: 1 }, { $set: { state: `S${i}` }, $inc: { version: 1 } }));
      expect(found.filter((d) => d !== null)).toHaveLength(1);
      expect(await c.findOne({ _id: 'inv' })).toMatchObject({ version: 2 });
    });

    it("20 concurrent $push guarded by { 'locations.locationId': { $ne } }: the location is added once", async () => {
      const c = fresh();
      await c.insertOne({ _id: 'partner', version: 0, locations: [{ locationId: 'L0' }] });
      const results = await concurrently(20, () =>
        c.updateOne({ _id: 'partner', 'locations.locationId': { $ne: 'L1' } }, { $push: { locations: { locationId: 'L1' } } as never, $inc: { version: 1 } }),
      );
      expect(results.filter((r) => r.modifiedCount === 1)).toHaveLength(1);
      expect(await c.findOne({ _id: 'partner' })).toEqual({ _id: 'partner', version: 1, locations: [{ locationId: 'L0' }, { locationId: 'L1' }] });
    });

    it('30 concurrent claims (findOneAndUpdate with $or, sort, returnDocument: after): each due document is claimed exactly once', async () => {
      const c = fresh();
      const now = new Date('2024-06-01T12:00:00Z');
      const minutes = (m: number) => new Date(now.getTime() + m * 60_000);
      await c.insertMany([
        ...Array.from({ length: 8 }, (_, i) => ({ _id: `due-${i}`, channel: 'EMAIL', status: i % 2 ? 'RETRY' : 'PENDING', nextAttemptAt: minutes(-10 + i), attempts: 0 })),
        { _id: 'abandoned', channel: 'EMAIL', status: 'SENDING', leaseUntil: minutes(-1), nextAttemptAt: minutes(-60), attempts: 1 },
        { _id: 'leased', channel: 'EMAIL', status: 'SENDING', leaseUntil: minutes(5), nextAttemptAt: minutes(-60), attempts: 1 },
        { _id: 'later', channel: 'EMAIL', status: 'PENDING', nextAttemptAt: minutes(10), attempts: 0 },
        { _id: 'sent', channel: 'EMAIL', status: 'SENT', nextAttemptAt: minutes(-10), attempts: 1 },
        { _id: 'sms', channel: 'SMS', status: 'PENDING', nextAttemptAt: minutes(-10), attempts: 0 },
      ]);
      const claim = (token: string) =>
        c.findOneAndUpdate(
          {
            channel: 'EMAIL',
            $or: [
              { status: { $in: ['PENDING', 'RETRY'] }, nextAttemptAt: { $lte: now } },
              { status: 'SENDING', leaseUntil: { $lte: now } },
            ],
          },
          { $set: { status: 'SENDING', leaseToken: token, leaseUntil: minutes(1) }, $inc: { attempts: 1 } },
          { sort: { nextAttemptAt: 1 }, returnDocument: 'after' },
        );
      // The earliest nextAttemptAt first: the abandoned one (its lease ran out), with its attempts counted.
      expect(await claim('first')).toMatchObject({ _id: 'abandoned', status: 'SENDING', leaseToken: 'first', attempts: 2 });

      const claimed = await concurrently(30, (i) => claim(`token-${i}`));
      const got = claimed.filter((d): d is NonNullable<typeof d> => d !== null);
      expect(got.map((d) => d._id).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `due-${i}`));
      expect(new Set(got.map((d) => d.leaseToken)).size).toBe(8);
      // What each claimer got back is what is stored: its own token, one attempt.
      for (const d of got) expect(await c.findOne({ _id: d._id })).toMatchObject({ status: 'SENDING', leaseToken: d.leaseToken, attempts: 1 });
      expect(await c.countDocuments({ status: 'SENDING' })).toBe(10);
      expect(await c.find({ status: { $ne: 'SENDING' } }, { sort: { _id: 1 } }).map((d) => d._id).toArray()).toEqual(['later', 'sent', 'sms']);
    });
  });

  describe('upserts', () => {
    it('updateOne upsert with $set / $setOnInsert / $inc: inserted once, then updated ($setOnInsert ignored)', async () => {
      const c = fresh();
      const first = await c.updateOne({ _id: 'u' }, { $set: { name: 'one' }, $setOnInsert: { createdBy: 'svc' }, $inc: { n: 1 } }, { upsert: true });
      expect(first).toMatchObject({ upsertedCount: 1, upsertedId: 'u', matchedCount: 0 });
      const second = await c.updateOne({ _id: 'u' }, { $set: { name: 'uno' }, $setOnInsert: { createdBy: 'other' }, $inc: { n: 5 } }, { upsert: true });
      expect(second).toMatchObject({ upsertedCount: 0, upsertedId: null, matchedCount: 1, modifiedCount: 1 });
      expect(await c.findOne({ _id: 'u' })).toEqual({ _id: 'u', name: 'uno', createdBy: 'svc', n: 6 });
      // Equality fields of the filter go into the inserted document.
      await c.updateOne({ _id: 'v', partnerId: 'P' }, { $set: { name: 'v' } }, { upsert: true });
      expect(await c.findOne({ _id: 'v' })).toEqual({ _id: 'v', partnerId: 'P', name: 'v' });
    });

    it("findOneAndUpdate with upsert and returnDocument: 'after'; null without upsert when nothing matches", async () => {
      const c = fresh();
      const created = await c.findOneAndUpdate({ _id: 'f' }, { $setOnInsert: { name: 'f' }, $inc: { n: 1 } }, { upsert: true, returnDocument: 'after' });
      expect(created).toEqual({ _id: 'f', name: 'f', n: 1 });
      const updated = await c.findOneAndUpdate({ _id: 'f' }, { $inc: { n: 2 } }, { upsert: true, returnDocument: 'after' });
      expect(updated).toEqual({ _id: 'f', name: 'f', n: 3 });
      const before = await c.findOneAndUpdate({ _id: 'f' }, { $set: { name: 'g' } });
      expect(before?.name).toBe('f');
      expect(await c.findOneAndUpdate({ _id: 'nope' }, { $set: { name: 'x' } }, { returnDocument: 'after' })).toBeNull();
      expect(await c.countDocuments()).toBe(1);
    });

    it('the revision guard: an upsert whose { _id, _rev } misses an existing document fails with 11000 and changes nothing', async () => {
      const c = fresh();
      await c.createIndex(REVISION_GUARD_INDEX[0], REVISION_GUARD_INDEX[1]);
      const write = (rev: number | { $exists: false }, at: number) =>
        c.updateOne({ _id: 'view', [WRITE_REVISION]: rev }, { $set: { at }, $inc: { [WRITE_REVISION]: 1 } }, { upsert: true });
      expect((await write(0, 1)).upsertedCount).toBe(1); // nothing stored: guard 0 inserts
      expect((await write(1, 2)).modifiedCount).toBe(1);
      const stale = await rejection(write(1, 3));
      expect(stale.code).toBe(11000);
      expect(isDuplicateKey(stale)).toBe(true);
      expect(await c.find({}).toArray()).toEqual([{ _id: 'view', at: 2, [WRITE_REVISION]: 2 }]);
      // A document written before the revision existed: guarded by its absence.
      await c.insertOne({ _id: 'old', at: 0 });
      expect((await c.updateOne({ _id: 'old', [WRITE_REVISION]: { $exists: false } }, { $set: { at: 5 }, $inc: { [WRITE_REVISION]: 1 } }, { upsert: true })).modifiedCount).toBe(1);
      expect(await c.findOne({ _id: 'old' })).toEqual({ _id: 'old', at: 5, [WRITE_REVISION]: 1 });
    });

    it('upsertIfNewer: 20 concurrent facts about one id keep the newest; an older fact afterwards is not written', async () => {
      const c = fresh();
      await c.createIndex(REVISION_GUARD_INDEX[0], REVISION_GUARD_INDEX[1]);
      const ats = [13, 2, 19, 7, 0, 11, 4, 16, 9, 1, 18, 5, 14, 3, 10, 17, 6, 12, 8, 15];
      const fact = (at: number) => ({ replaces: (stored: { at: number }) => at > stored.at, set: { at, label: `fact-${at}` } });
      const wrote = await Promise.all(ats.map((at) => upsertIfNewer<{ at: number }>(c as unknown as Collection, 'view-1', fact(at))));
      expect(wrote.some(Boolean)).toBe(true);
      expect(await c.find({}).toArray()).toEqual([{ _id: 'view-1', at: 19, label: 'fact-19', [WRITE_REVISION]: wrote.filter(Boolean).length }]);
      expect(await upsertIfNewer<{ at: number }>(c as unknown as Collection, 'view-1', fact(3))).toBe(false);
      expect(await upsertIfNewer<{ at: number }>(c as unknown as Collection, 'view-1', fact(20))).toBe(true);
      expect(await c.findOne({ _id: 'view-1' })).toMatchObject({ at: 20 });
    });

    it('20 concurrent upserts ($inc) of one new _id: one document, every increment counted', async () => {
      const c = fresh();
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => c.updateOne({ _id: 'new' }, { $inc: { n: 1 } }, { upsert: true })));
      const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(failures.map((f) => String(f.reason))).toEqual([]);
      expect(results.filter((r) => r.status === 'fulfilled' && r.value.upsertedCount === 1)).toHaveLength(1);
      expect(await c.find({}).toArray()).toEqual([{ _id: 'new', n: 20 }]);
    });
  });

  describe('unique indexes and duplicate keys', () => {
    it('duplicate _id and unique index (single and compound): code 11000', async () => {
      const c = fresh();
      await c.insertOne({ _id: 'key-1', email: 'a@x', tenant: 't', code: 'c' });
      expect((await rejection(c.insertOne({ _id: 'key-1' }))).code).toBe(11000);
      await c.createIndexes([
        { key: { email: 1 }, name: 'email_1', unique: true },
        { key: { tenant: 1, code: 1 }, name: 'tenant_code', unique: true },
      ]);
      expect((await rejection(c.insertOne({ _id: 'key-2', email: 'a@x' }))).code).toBe(11000);
      await c.insertOne({ _id: 'key-3', email: 'b@x', tenant: 't', code: 'd' });
      expect((await rejection(c.insertOne({ _id: 'key-4', email: 'c@x', tenant: 't', code: 'c' }))).code).toBe(11000);
      // An update that would make a duplicate, too.
      expect((await rejection(c.updateOne({ _id: 'key-3' }, { $set: { email: 'a@x' } }))).code).toBe(11000);
      expect((await c.listIndexes().toArray()).map((i) => i.name).sort()).toEqual(['_id_', 'email_1', 'tenant_code']);
      expect(await c.countDocuments()).toBe(2);
    });

    it('insertMany ordered:false: each duplicate is reported with its index and 11000, the others are inserted', async () => {
      const c = fresh();
      await c.insertMany([{ _id: 'd1' }, { _id: 'd3' }]);
      const error = await rejection(c.insertMany([{ _id: 'd0' }, { _id: 'd1' }, { _id: 'd2' }, { _id: 'd3' }, { _id: 'd4' }], { ordered: false }));
      expect(error).toBeInstanceOf(MongoBulkWriteError);
      const writeErrors = ([] as Array<{ index: number; code: number }>).concat(error.writeErrors as never);
      expect(writeErrors.map((e) => [e.index, e.code])).toEqual([
        [1, 11000],
        [3, 11000],
      ]);
      expect((await c.find({}, { sort: { _id: 1 } }).toArray()).map((d) => d._id)).toEqual(['d0', 'd1', 'd2', 'd3', 'd4']);
      // A deviation from MongoDB, pinned here: mongo-java-server 1.46 answers `n` = the documents attempted (5) where
      // MongoDB answers the documents inserted (3), so `result.insertedCount` is not the number inserted once there
      // are duplicates. Count them as documents minus write errors, as insertIdempotent (services/enrollment) does.
      expect((error as unknown as MongoBulkWriteError).result.insertedCount).toBe(5);
    });

    it('bulkWrite ordered:false with duplicate keys among upserts: the failing op indexes are reported, the others applied, result counts kept', async () => {
      const c = fresh();
      await c.insertMany([
        { _id: 'a', _rev: 1, v: 0 },
        { _id: 'b', _rev: 1, v: 0 },
      ]);
      const ops = [
        { updateOne: { filter: { _id: 'a', _rev: 1 }, update: { $set: { v: 1 }, $inc: { _rev: 1 } }, upsert: true } }, // matches
        { updateOne: { filter: { _id: 'b', _rev: 0 }, update: { $set: { v: 1 }, $inc: { _rev: 1 } }, upsert: true } }, // stale: 11000
        { updateOne: { filter: { _id: 'c', _rev: 0 }, update: { $set: { v: 1 }, $inc: { _rev: 1 } }, upsert: true } }, // inserts
        { updateOne: { filter: { _id: 'a', _rev: 0 }, update: { $set: { v: 9 }, $inc: { _rev: 1 } }, upsert: true } }, // stale: 11000
      ];
      const error = (await rejection(c.bulkWrite(ops as never, { ordered: false }))) as unknown as MongoBulkWriteError;
      const writeErrors = ([] as Array<{ index: number; code: number }>).concat(error.writeErrors as never);
      expect(writeErrors.map((e) => [e.index, e.code])).toEqual([
        [1, 11000],
        [3, 11000],
      ]);
      expect(error.result).toMatchObject({ matchedCount: 1, modifiedCount: 1, upsertedCount: 1 });
      expect(await c.find({}, { sort: { _id: 1 } }).toArray()).toEqual([
        { _id: 'a', _rev: 2, v: 1 },
        { _id: 'b', _rev: 1, v: 0 },
        { _id: 'c', _rev: 1, v: 1 },
      ]);
    });

    it('BulkWriteBatcher: concurrent writes go out as one unordered bulkWrite; only the duplicate rejects, with code 11000', async () => {
      const c = fresh();
      await c.insertOne({ _id: 'taken' });
      const batcher = new BulkWriteBatcher(c as unknown as Collection);
      const outcomes = await Promise.allSettled(['n1', 'taken', 'n2', 'n3'].map((_id) => batcher.write({ insertOne: { document: { _id } } })));
      expect(outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : (o.reason as { code?: number }).code))).toEqual(['ok', 11000, 'ok', 'ok']);
      expect(await c.countDocuments()).toBe(4);
    });
  });

  describe('bulk and multi-document writes', () => {
    it('bulkWrite ordered:false: matchedCount / modifiedCount / upsertedCount / upsertedIds per op index, deleteMany', async () => {
      const c = fresh();
      await c.insertMany([
        { _id: 'x', v: 1 },
        { _id: 'y', v: 1 },
        { _id: 'gone', status: 'old' },
      ]);
      const res = await c.bulkWrite(
        [
          { updateOne: { filter: { _id: 'x' }, update: { $set: { v: 2 } }, upsert: true } }, // matched, modified
          { updateOne: { filter: { _id: 'y' }, update: { $set: { v: 1 } } } }, // matched, not modified
          { updateOne: { filter: { _id: 'z' }, update: { $set: { v: 1 } }, upsert: true } }, // upserted
          { updateOne: { filter: { _id: 'nobody' }, update: { $set: { v: 1 } } } }, // nothing
          { updateOne: { filter: { _id: 'w' }, update: { $addToSet: { userIds: 'u1' } }, upsert: true } }, // upserted
          { deleteMany: { filter: { status: 'old' } } },
        ],
        { ordered: false },
      );
      expect(res).toMatchObject({ matchedCount: 2, modifiedCount: 1, upsertedCount: 2, deletedCount: 1, insertedCount: 0 });
      expect(res.upsertedIds).toEqual({ 2: 'z', 4: 'w' });
      expect(await c.find({}, { sort: { _id: 1 } }).toArray()).toEqual([
        { _id: 'w', userIds: ['u1'] },
        { _id: 'x', v: 2 },
        { _id: 'y', v: 1 },
        { _id: 'z', v: 1 },
      ]);
    });

    it('bulkWrite ordered:false of $setOnInsert upserts (the processed-event ledger): an entry already there stays as it was', async () => {
      const c = fresh();
      const first = new Date('2024-01-01T00:00:00Z');
      const record = (ids: string[], processedAt: Date) =>
        c.bulkWrite(ids.map((_id) => ({ updateOne: { filter: { _id }, update: { $setOnInsert: { processedAt } }, upsert: true } })), { ordered: false });
      expect((await record(['g:e1', 'g:e2'], first)).upsertedCount).toBe(2);
      const again = await record(['g:e2', 'g:e3'], new Date());
      expect(again).toMatchObject({ upsertedCount: 1, matchedCount: 1, modifiedCount: 0 });
      expect(await c.findOne({ _id: 'g:e2' })).toEqual({ _id: 'g:e2', processedAt: first });
      const seen = await c.find({ _id: { $in: ['g:e1', 'g:e3', 'g:e9'] } }, { projection: { _id: 1 } }).toArray();
      expect(seen.map((d) => d._id).sort()).toEqual(['g:e1', 'g:e3']);
    });

    it('updateMany by _id $in ($set + $inc version): matchedCount / modifiedCount, other documents untouched', async () => {
      const c = fresh();
      await c.insertMany(Array.from({ length: 120 }, (_, i) => ({ _id: `e${String(i).padStart(3, '0')}`, version: 1, fiscalYear: 'FY27' })));
      const ids = Array.from({ length: 50 }, (_, i) => `e${String(i * 2).padStart(3, '0')}`).concat(['missing']);
      const res = await c.updateMany({ _id: { $in: ids } }, { $set: { rollover: { toFiscalYear: 'FY28', outcome: 'RENEWED' } }, $inc: { version: 1 } });
      expect(res).toMatchObject({ matchedCount: 50, modifiedCount: 50 });
      expect(await c.countDocuments({ version: 2, 'rollover.outcome': 'RENEWED' })).toBe(50);
      expect(await c.countDocuments({ version: 1, rollover: { $exists: false } })).toBe(70);
      expect(await c.countDocuments({ _id: { $in: ids }, version: 1 })).toBe(0);
    });

    it('$unset (with "" and 1), $set of dotted paths, $inc creating a field, $addToSet ($each of subdocuments) with $inc, $pull by condition', async () => {
      const c = fresh();
      await c.insertOne({ _id: 'o', leaseToken: 't', leaseUntil: new Date(), requestHash: 'h', pendingAdmin: { email: 'e' }, defaultFor: [] });
      await c.updateOne({ _id: 'o' }, { $set: { state: 'done', 'answer.status': 201 }, $unset: { leaseToken: '', leaseUntil: '', requestHash: '' } });
      await c.updateOne({ _id: 'o' }, { $unset: { pendingAdmin: 1 }, $inc: { hits: 2 } });
      expect(await c.findOne({ _id: 'o' }, { projection: { defaultFor: 0 } })).toEqual({ _id: 'o', state: 'done', answer: { status: 201 }, hits: 2 });

      // payout-profiles' default claims: $addToSet $each of subdocuments, then $pull of a subdocument condition.
      const claim = (locationId: string, version: number, token: string) => ({ locationId, version, token });
      await c.updateOne({ _id: 'o' }, { $addToSet: { defaultFor: { $each: [claim('L1', 1, 'a'), claim('L1', 2, 'a'), claim('L2', 1, 'b')] } }, $inc: { defaultClaims: 1 } });
      const again = await c.updateOne({ _id: 'o' }, { $addToSet: { defaultFor: { $each: [claim('L1', 1, 'a')] } } });
      expect(again.modifiedCount).toBe(0);
      await c.updateOne({ _id: 'o' }, { $pull: { defaultFor: { locationId: 'L1', version: { $lte: 1 } } } as never });
      expect((await c.findOne({ _id: 'o' }))?.defaultFor).toEqual([claim('L1', 2, 'a'), claim('L2', 1, 'b')]);
      await c.updateOne({ _id: 'o' }, { $pull: { defaultFor: { locationId: 'L2', token: 'b', version: { $ne: 7 } } } as never });
      expect(await c.findOne({ _id: 'o' })).toMatchObject({ defaultFor: [claim('L1', 2, 'a')], defaultClaims: 1 });
    });
  });

  describe('queries', () => {
    let c: Collection<Row>;
    const base = new Date('2024-01-01T00:00:00Z');
    const at = (s: number) => new Date(base.getTime() + s * 1_000);

    beforeAll(async () => {
      c = fresh();
      await c.insertMany([
        { _id: 'q1', partnerId: 'P', status: 'ENROLLED', grants: ['admin:*'], active: true, enrolledAt: at(1), locations: [{ locationId: 'L1' }] },
        { _id: 'q2', partnerId: 'P', status: 'PENDING', grants: ['user:L1', 'admin:L2'], active: true, enrolledAt: null, locations: [] },
        { _id: 'q3', partnerId: 'P', status: 'ENROLLED', grants: ['admin:L1'], active: false, enrolledAt: at(3), locations: [{ locationId: 'L2' }, { locationId: 'L3' }] },
        { _id: 'q4', partnerId: 'Q', status: 'DISCONTINUED', grants: [], active: true, enrolledAt: at(4) },
      ]);
    });

    const ids = async (filter: Record<string, unknown>) => (await c.find(filter as never, { sort: { _id: 1 } }).toArray()).map((d) => d._id);

    it('$in on _id, on a field and on an array field; $nin; $ne (a value, null); $exists: false', async () => {
      expect(await ids({ _id: { $in: ['q4', 'q1', 'nope'] } })).toEqual(['q1', 'q4']);
      expect(await ids({ partnerId: 'P', status: { $in: ['ENROLLED', 'PENDING'] } })).toEqual(['q1', 'q2', 'q3']);
      expect(await ids({ partnerId: 'P', active: true, grants: { $in: ['admin:L1', 'admin:*'] } })).toEqual(['q1']);
      expect(await ids({ status: { $nin: ['ENROLLED'] } })).toEqual(['q2', 'q4']);
      expect(await ids({ partnerId: 'P', _id: { $ne: 'q2' } })).toEqual(['q1', 'q3']);
      expect(await ids({ enrolledAt: { $ne: null } })).toEqual(['q1', 'q3', 'q4']);
      expect(await ids({ locations: { $exists: false } })).toEqual(['q4']);
      expect(await ids({ 'locations.locationId': { $in: ['L3', 'L9'] } })).toEqual(['q3']);
    });

    it('countDocuments with an array element equality and _id $ne (the last admin check)', async () => {
      expect(await c.countDocuments({ partnerId: 'P', active: true, grants: 'admin:*' })).toBe(1);
      expect(await c.countDocuments({ partnerId: 'P', active: true, grants: 'admin:*', _id: { $ne: 'q1' } })).toBe(0);
      expect(await c.countDocuments({ partnerId: 'P' })).toBe(3);
    });

    it('$lte / $gte on Dates, $or', async () => {
      expect(await ids({ enrolledAt: { $gte: at(2), $lte: at(4) } })).toEqual(['q3', 'q4']);
      expect(await ids({ $or: [{ status: 'PENDING' }, { active: false, partnerId: 'P' }] })).toEqual(['q2', 'q3']);
    });

    it('sort (on a field, on a Date descending, on _id) with skip and limit', async () => {
      expect((await c.find({ partnerId: 'P' }).sort({ _id: -1 }).limit(2).toArray()).map((d) => d._id)).toEqual(['q3', 'q2']);
      expect((await c.find({ enrolledAt: { $ne: null } }).sort({ enrolledAt: -1 }).limit(2).toArray()).map((d) => d._id)).toEqual(['q4', 'q3']);
      expect((await c.find({}).sort({ status: 1, _id: 1 }).skip(1).limit(2).toArray()).map((d) => d._id)).toEqual(['q1', 'q3']);
    });

    it('projections: inclusion, exclusion, _id only, a dotted path', async () => {
      expect(await c.findOne({ _id: 'q1' }, { projection: { status: 1 } })).toEqual({ _id: 'q1', status: 'ENROLLED' });
      expect(await c.findOne({ _id: 'q1' }, { projection: { status: 1, _id: 0 } })).toEqual({ status: 'ENROLLED' });
      expect(Object.keys((await c.findOne({ _id: 'q1' }, { projection: { grants: 0, locations: 0 } })) ?? {}).sort()).toEqual([
        '_id',
        'active',
        'enrolledAt',
        'partnerId',
        'status',
      ]);
      expect(await c.find({ partnerId: 'P' }, { projection: { _id: 1 }, sort: { _id: 1 } }).toArray()).toEqual([{ _id: 'q1' }, { _id: 'q2' }, { _id: 'q3' }]);
      expect(await c.findOne({ _id: 'q3' }, { projection: { 'locations.locationId': 1 } })).toEqual({
        _id: 'q3',
        locations: [{ locationId: 'L2' }, { locationId: 'L3' }],
      });
    });

    it('a cursor with batchSize 500 (projection { outbox: 0 }) streams 2,500 documents, each once, in order', async () => {
      const big = fresh();
      for (let i = 0; i < 2_500; i += 500) {
        await big.insertMany(
          Array.from({ length: 500 }, (_, j) => ({ _id: `r${String(i + j).padStart(5, '0')}`, i: i + j, fiscalYear: 'FY27', outbox: [entry(`x${i + j}`)] })),
          { ordered: false },
        );
      }
      const seen = new Set<string>();
      let ordered = true;
      let withOutbox = 0;
      let last = -1;
      for await (const doc of big.find({ fiscalYear: 'FY27' }, { projection: { outbox: 0 }, batchSize: 500 }).sort({ _id: 1 })) {
        if ((doc.i as number) <= last) ordered = false;
        last = doc.i as number;
        if ('outbox' in doc) withOutbox++;
        seen.add(doc._id);
      }
      expect(seen.size).toBe(2_500);
      expect(ordered).toBe(true);
      expect(withOutbox).toBe(0);
      // Unsorted, with a filter: still every match once (getMore beyond the first batch).
      let count = 0;
      for await (const _ of big.find({ i: { $gte: 1_000 } }, { batchSize: 300 })) count++;
      expect(count).toBe(1_500);
      // The rollover's scan names its index (hint { fiscalYear: 1, _id: 1 }, which MongoDB follows): accepted here,
      // with every match once.
      await big.createIndex({ fiscalYear: 1, _id: 1 });
      const hinted = new Set<string>();
      for await (const doc of big.find({ fiscalYear: 'FY27', i: { $lt: 700 } }, { projection: { outbox: 0 }, batchSize: 300, hint: { fiscalYear: 1, _id: 1 } })) hinted.add(doc._id);
      expect(hinted.size).toBe(700);
    });
  });
});

describe('mongo-java-server that cannot start', () => {
  // Its H2 file still held by another server (the previous platform's, still stopping after a kill): the start fails at
  // once with what this server logged, not after the whole 60 s wait (a test run's global setup failed a minute later).
  it('is reported as soon as it exits, with its own log lines', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mongo-java-server-spec-'));
    const persistFile = join(dataDir, 'held.mv.db');
    const holder = await startMongoJavaServer({ root: ROOT, dataDir: join(dataDir, 'holder'), persistFile });
    try {
      const error = await rejection(startMongoJavaServer({ root: ROOT, dataDir: join(dataDir, 'second'), persistFile }));
      expect(String(error.message)).toMatch(/^mongo-java-server on port \d+ exited while starting \(code [1-9]\d*\):\n/);
      expect(String(error.message)).toMatch(/locked|in use|lock/i);
      expect(String(error.message)).not.toMatch(/Timed out/);
    } finally {
      await holder.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
