/**
 * Starts the local FerretDB (SQLite backend) and checks, through mongoose 8, the MongoDB
 * operations the platform relies on. Operations FerretDB does not fully support are probed: each
 * probe's outcome (works, refused with an error code, or silently wrong) is asserted against
 * EXPECTED below, the table of deploy/local/ferretdb/README.md ("What works and what does not").
 * A probe that behaves otherwise than documented fails its test, whichever way it differs: the
 * README (and this table) must then be corrected. The outcomes are also printed at the end
 * (`FerretDB findings:`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mongoose, { Connection, Model, Schema, Types } from 'mongoose';
import { ensureFerretDbBinary, MongoServer, startFerretDb } from './ferretdb';

jest.setTimeout(120_000);

const ROOT = resolve(__dirname, '../../../..');

/**
 * How an operation behaves: as on MongoDB (`works`), refused with an error (`error`, with the server's code), or
 * accepted without an error but with a result MongoDB would not give (`silently wrong`).
 */
type Outcome = { outcome: 'works' } | { outcome: 'error'; code: number | undefined } | { outcome: 'silently wrong' };
const WORKS: Outcome = { outcome: 'works' };
const SILENTLY_WRONG: Outcome = { outcome: 'silently wrong' };
const refused = (code: number): Outcome => ({ outcome: 'error', code });

/**
 * What deploy/local/ferretdb/README.md documents for FerretDB 1.24.2 on SQLite, per probe: the "Works" list, the
 * "Does NOT work — errors" table (with the code answered) and the "Does NOT work — SILENTLY wrong" table.
 */
const EXPECTED: Record<string, Outcome> = {
  // Works
  'sparse unique index': WORKS,
  'dropIndex + mongoose syncIndexes': WORKS,
  'bulkWrite ordered:false, one op fails with 11000, others applied': WORKS,
  '$regex query': WORKS,
  '$size query': WORKS,
  'sort by Date descending': WORKS,
  'aggregate $unwind': WORKS,
  // Does NOT work — errors
  'partial unique index (partialFilterExpression)': refused(238),
  'TTL index (expireAfterSeconds)': refused(238),
  'arrayFilters ($[elem])': refused(238),
  'positional $ update (roles.$.field)': refused(28),
  'all-positional $[] update': refused(28),
  'updateOne with a pipeline ([{ $set: ... }])': refused(14),
  '$elemMatch on subdocuments, several fields ({ $elemMatch: { role, locationIds } })': refused(2),
  'transactions (session.withTransaction)': refused(9),
  'change streams (collection.watch)': refused(238),
  'aggregate $lookup': refused(238),
  'aggregate $facet': refused(238),
  'aggregate $sortByCount': refused(238),
  'aggregate $group with $max/$min/$first/$push': refused(238),
  'aggregate $project with $multiply': refused(238),
  'aggregate $group by date part ($dateToString)': refused(238),
  // Does NOT work — SILENTLY wrong
  '$push with $each + $slice: -3 (keep the last 3)': SILENTLY_WRONG,
  '$push with $each + $position: 0 (prepend)': SILENTLY_WRONG,
  'idempotency window: $slice: -50 trims appliedEvents to 50': SILENTLY_WRONG,
  '$pull with a condition on a subdocument field ({ outbox: { eventId: { $in: [...] } } })': SILENTLY_WRONG,
  '$pull with a partial subdocument ({ outbox: { topic: "a" } })': SILENTLY_WRONG,
  '$pull with an operator on scalars ({ tags: { $in: ["a", "b"] } })': SILENTLY_WRONG,
  '$elemMatch on subdocuments, one field ({ roles: { $elemMatch: { role: "admin" } } })': SILENTLY_WRONG,
  '$elemMatch with a range on scalars ({ scores: { $elemMatch: { $gte: 80, $lt: 85 } } })': SILENTLY_WRONG,
  'aggregate $group with TWO accumulators ({ count: { $sum: 1 }, total: { $sum: "$n" } })': SILENTLY_WRONG,
  'aggregate $project with a field path ({ m: "$n" })': SILENTLY_WRONG,
  'unique index, several documents missing the field (non-sparse)': SILENTLY_WRONG,
};

type Finding = { operation: string; actual: Outcome; expected: Outcome | undefined; detail: string };
const findings: Finding[] = [];
/** Findings of the running test not yet compared with EXPECTED (see expectAsDocumented). */
let unchecked: Finding[] = [];
const timings: string[] = [];

/** Thrown by a probe when the server answered without an error but not as MongoDB would: "silently wrong". */
class Deviation extends Error {}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${code !== undefined ? `code ${String(code)}: ` : ''}${error.message.split('\n')[0]}`;
  }
  return String(error);
}

function describeOutcome(o: Outcome | undefined): string {
  if (!o) return 'NOT IN EXPECTED';
  return o.outcome === 'error' ? `error ${o.code ?? '(no code)'}` : o.outcome;
}

/**
 * Runs an operation that may be unsupported and records how it behaved: `fn` checks the result MongoDB gives and
 * throws a Deviation when it differs; an error from the server counts as refused (with its code). The test asserts
 * the recorded outcomes with expectAsDocumented().
 */
async function probe(operation: string, fn: () => Promise<string | void>): Promise<void> {
  let actual: Outcome;
  let detail: string;
  try {
    detail = (await fn()) || 'ok';
    actual = WORKS;
  } catch (error) {
    detail = errorText(error);
    const code = (error as { code?: unknown }).code;
    actual = error instanceof Deviation ? SILENTLY_WRONG : { outcome: 'error', code: typeof code === 'number' ? code : undefined };
  }
  const finding = { operation, actual, expected: EXPECTED[operation], detail };
  findings.push(finding);
  unchecked.push(finding);
}

/** Asserts that every probe of this test behaved as EXPECTED (the README) says. */
function expectAsDocumented(): void {
  const checked = unchecked;
  unchecked = [];
  expect(checked.map((f) => ({ operation: f.operation, outcome: describeOutcome(f.actual), detail: f.detail }))).toEqual(
    // The detail (what the server did) is on both sides: shown, never compared.
    checked.map((f) => ({ operation: f.operation, outcome: describeOutcome(f.expected), detail: f.detail })),
  );
}

function expectEq(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Deviation(`${what}: expected ${e}, got ${a}`);
}

interface Item {
  _id?: Types.ObjectId;
  sku: string;
  n: number;
  tags?: string[];
  at?: Date;
}

interface Account {
  _id: string;
  name?: string;
  createdBy?: string;
  counter?: number;
  version?: number;
  status?: string;
  note?: string;
  history?: { eventId: string; kind: string }[];
  appliedEvents?: string[];
  tags?: string[];
  outbox?: { eventId: string; topic: string }[];
  roles?: { role: string; locationIds: string[] }[];
  createdAt?: Date;
}

describe('FerretDB (SQLite backend) through mongoose 8', () => {
  let server: MongoServer;
  let dataDir: string;
  let connA: Connection;
  let connB: Connection;
  let Items: Model<Item>;
  let Accounts: Model<Account>;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ferretdb-spec-'));
    const log = (line: string) => timings.push(`  log: ${line}`);

    let t = Date.now();
    await ensureFerretDbBinary(ROOT, log);
    timings.push(`binary ready (build or cache hit): ${Date.now() - t} ms`);

    t = Date.now();
    server = await startFerretDb({ root: ROOT, dataDir, log });
    timings.push(`startFerretDb with a cached binary (until ping answers): ${Date.now() - t} ms`);

    connA = await mongoose.createConnection(server.url, { dbName: 'svc_a', serverSelectionTimeoutMS: 5_000 }).asPromise();
    connB = await mongoose.createConnection(server.url, { dbName: 'svc_b', serverSelectionTimeoutMS: 5_000 }).asPromise();

    Items = connA.model<Item>(
      'Item',
      new Schema<Item>({ sku: String, n: Number, tags: [String], at: Date }, { autoIndex: false }),
      'items',
    );
    Accounts = connA.model<Account>(
      'Account',
      new Schema<Account>(
        {
          _id: String,
          name: String,
          createdBy: String,
          counter: Number,
          version: Number,
          status: String,
          note: String,
          history: [{ _id: false, eventId: String, kind: String }],
          appliedEvents: [String],
          tags: [String],
          outbox: [{ _id: false, eventId: String, topic: String }],
          roles: [{ _id: false, role: String, locationIds: [String] }],
          createdAt: Date,
        },
        { autoIndex: false, versionKey: false },
      ),
      'accounts',
    );
  }, 300_000); // a cold `go build` of the server takes ~35 s on 2 cores

  afterAll(async () => {
    await connA?.close();
    await connB?.close();
    if (server) {
      const t = Date.now();
      await server.stop();
      timings.push(`stop (SIGTERM until exit): ${Date.now() - t} ms`);
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });

    const lines = findings.map((f) => {
      const [actual, expected] = [describeOutcome(f.actual), describeOutcome(f.expected)];
      return `  [${actual}] ${f.operation}: ${f.detail}${actual === expected ? '' : `  <-- NOT AS DOCUMENTED (expected: ${expected})`}`;
    });
    // eslint-disable-next-line no-console
    console.log(`FerretDB findings:\n${lines.join('\n')}\n\nFigures:\n  ${timings.join('\n  ')}`);
  });

  afterEach(() => {
    // A test that probed must compare its outcomes with EXPECTED (expectAsDocumented) before it ends.
    const left = unchecked.map((f) => f.operation);
    unchecked = [];
    if (left.length > 0) throw new Error(`probes not compared with EXPECTED (call expectAsDocumented()): ${left.join('; ')}`);
  });

  describe('basic CRUD', () => {
    beforeAll(async () => {
      await Items.deleteMany({});
    });

    it('insertOne / insertMany, find with sort/limit/skip, countDocuments, projection', async () => {
      await Items.create({ sku: 'a', n: 1, tags: ['x'] });
      await Items.insertMany([
        { sku: 'b', n: 2 },
        { sku: 'c', n: 3 },
        { sku: 'd', n: 4 },
        { sku: 'e', n: 5 },
      ]);
      expect(await Items.countDocuments()).toBe(5);
      expect(await Items.countDocuments({ n: { $gt: 2 } })).toBe(3);

      const page = await Items.find().sort({ n: -1 }).skip(1).limit(2).lean();
      expect(page.map((d) => d.sku)).toEqual(['d', 'c']);

      const projected = await Items.findOne({ sku: 'a' }, { sku: 1, _id: 0 }).lean();
      expect(projected).toEqual({ sku: 'a' });
      const excluded = await Items.findOne({ sku: 'a' }).select('-tags -__v').lean();
      expect(Object.keys(excluded ?? {}).sort()).toEqual(['_id', 'n', 'sku']);

      expect(await Items.exists({ sku: 'e' })).toBeTruthy();
      expect((await Items.deleteOne({ sku: 'e' })).deletedCount).toBe(1);
    });
  });

  describe('indexes', () => {
    it('unique index rejects a duplicate with code 11000', async () => {
      const coll = connA.collection('uniq');
      await coll.createIndexes([{ key: { email: 1 }, name: 'email_1', unique: true }]);
      await coll.insertOne({ email: 'a@x' });
      await expect(coll.insertOne({ email: 'a@x' })).rejects.toMatchObject({ code: 11000 });

      // Through a mongoose schema index as well, built by mongoose's default autoCreate/autoIndex.
      const Users = connA.model('UniqUser', new Schema({ login: { type: String, unique: true } }), 'uniq_users');
      await Users.init();
      await Users.create({ login: 'l1' });
      await expect(Users.create({ login: 'l1' })).rejects.toMatchObject({ code: 11000 });
      // An upsert that would create a duplicate is rejected too.
      await expect(
        Users.updateOne({ login: 'l1', other: 1 }, { $set: { login: 'l1' } }, { upsert: true, strict: false }),
      ).rejects.toMatchObject({ code: 11000 });
    });

    it('compound unique index', async () => {
      const coll = connA.collection('uniq_compound');
      await coll.createIndexes([{ key: { tenant: 1, code: 1 }, name: 'tenant_code', unique: true }]);
      await coll.insertMany([
        { tenant: 't1', code: 'c1' },
        { tenant: 't1', code: 'c2' },
        { tenant: 't2', code: 'c1' },
      ]);
      await expect(coll.insertOne({ tenant: 't1', code: 'c1' })).rejects.toMatchObject({ code: 11000 });
      const names = (await coll.listIndexes().toArray()).map((i) => i.name);
      expect(names).toEqual(expect.arrayContaining(['_id_', 'tenant_code']));
    });

    it('probe: partial and sparse unique indexes, TTL, dropIndex, syncIndexes', async () => {
      await probe('partial unique index (partialFilterExpression)', async () => {
        const coll = connA.collection('partial_idx');
        await coll.createIndexes([
          { key: { ref: 1 }, name: 'ref_active', unique: true, partialFilterExpression: { active: true } },
        ]);
        await coll.insertMany([
          { ref: 'r', active: false },
          { ref: 'r', active: false },
        ]);
        await coll.insertOne({ ref: 'r', active: true });
        try {
          await coll.insertOne({ ref: 'r', active: true });
        } catch (error) {
          if ((error as { code?: number }).code === 11000) return 'created and enforced';
          throw error;
        }
        throw new Deviation('index created but a duplicate matching the filter was accepted');
      });

      await probe('sparse unique index', async () => {
        const coll = connA.collection('sparse_idx');
        await coll.createIndexes([{ key: { ext: 1 }, name: 'ext_sparse', unique: true, sparse: true }]);
        await coll.insertMany([{ a: 1 }, { a: 2 }]); // both lack `ext`
        await coll.insertOne({ ext: 'x' });
        try {
          await coll.insertOne({ ext: 'x' });
        } catch (error) {
          if ((error as { code?: number }).code === 11000) return 'created and enforced';
          throw error;
        }
        throw new Deviation('index created but a duplicate was accepted');
      });

      await probe('unique index, several documents missing the field (non-sparse)', async () => {
        const coll = connA.collection('missing_field_idx');
        await coll.createIndexes([{ key: { ext: 1 }, name: 'ext_1', unique: true }]);
        await coll.insertOne({ a: 1 });
        try {
          await coll.insertOne({ a: 2 }); // MongoDB rejects this: both documents index `null`
        } catch (error) {
          if ((error as { code?: number }).code === 11000) return 'second document without the field rejected with 11000';
          throw error;
        }
        throw new Deviation('second document without the field ACCEPTED (MongoDB rejects it with 11000)');
      });

      await probe('TTL index (expireAfterSeconds)', async () => {
        const coll = connA.collection('ttl_idx');
        await coll.createIndexes([{ key: { at: 1 }, name: 'at_ttl', expireAfterSeconds: 60 }]);
        const idx = (await coll.listIndexes().toArray()).find((i) => i.name === 'at_ttl');
        if (idx?.expireAfterSeconds !== 60) throw new Deviation(`listed as ${JSON.stringify(idx)}`);
        return 'created (expiry itself not verified)';
      });

      await probe('dropIndex + mongoose syncIndexes', async () => {
        const Synced = connA.model(
          'Synced',
          new Schema({ a: { type: String, index: true }, b: String }, { autoIndex: false }),
          'synced',
        );
        await Synced.collection.createIndex({ b: 1 }, { name: 'b_1' });
        const dropped = await Synced.syncIndexes();
        const names = (await Synced.collection.listIndexes().toArray()).map((i) => i.name).sort();
        expectEq(names, ['_id_', 'a_1'], 'indexes after syncIndexes');
        return `dropped ${JSON.stringify(dropped)}`;
      });
      expectAsDocumented();
    });
  });

  describe('updates', () => {
    beforeEach(async () => {
      await Accounts.deleteMany({});
    });

    it('updateOne upsert with $set / $setOnInsert / $inc', async () => {
      const first = await Accounts.updateOne(
        { _id: 'acc1' },
        { $set: { name: 'one' }, $setOnInsert: { createdBy: 'svc', createdAt: new Date(0) }, $inc: { counter: 1 } },
        { upsert: true },
      );
      expect(first.upsertedCount).toBe(1);
      expect(first.upsertedId).toBe('acc1');
      const second = await Accounts.updateOne(
        { _id: 'acc1' },
        { $set: { name: 'uno' }, $setOnInsert: { createdBy: 'other' }, $inc: { counter: 5 } },
        { upsert: true },
      );
      expect(second.matchedCount).toBe(1);
      expect(second.modifiedCount).toBe(1);
      const doc = await Accounts.findById('acc1').lean();
      expect(doc).toMatchObject({ name: 'uno', createdBy: 'svc', counter: 6, createdAt: new Date(0) });
    });

    it('mongoose timestamps with upsert (createdAt via $setOnInsert, updatedAt via $set)', async () => {
      const Stamped = connA.model(
        'Stamped',
        new Schema({ _id: String, v: Number }, { timestamps: true, autoIndex: false }),
        'stamped',
      );
      await Stamped.deleteMany({});
      await Stamped.updateOne({ _id: 's1' }, { $set: { v: 1 } }, { upsert: true });
      const first = await Stamped.findById('s1').lean<{ createdAt: Date; updatedAt: Date }>();
      await new Promise((r) => setTimeout(r, 5));
      await Stamped.updateOne({ _id: 's1' }, { $set: { v: 2 } }, { upsert: true });
      const second = await Stamped.findById('s1').lean<{ v: number; createdAt: Date; updatedAt: Date }>();
      expect(second?.v).toBe(2);
      expect(second?.createdAt).toEqual(first?.createdAt);
      expect(second!.updatedAt.getTime()).toBeGreaterThan(first!.updatedAt.getTime());
    });

    it('$min / $max / $mul / $currentDate / $rename, replaceOne, findOneAndDelete, distinct', async () => {
      await Accounts.create({ _id: 'ops', counter: 5, version: 2, note: 'n' });
      await Accounts.updateOne(
        { _id: 'ops' },
        { $max: { counter: 9 }, $min: { version: 1 }, $currentDate: { createdAt: true }, $rename: { note: 'name' } },
      );
      await Accounts.collection.updateOne({ _id: 'ops' as never }, { $mul: { counter: 2 } });
      const doc = await Accounts.findById('ops').lean();
      expect(doc).toMatchObject({ counter: 18, version: 1, name: 'n' });
      expect(doc?.createdAt).toBeInstanceOf(Date);
      expect(doc).not.toHaveProperty('note');

      await Accounts.replaceOne({ _id: 'ops' }, { status: 'replaced' });
      const replaced = await Accounts.findById('ops').lean();
      expect(replaced).toMatchObject({ _id: 'ops', status: 'replaced' });
      expect(replaced).not.toHaveProperty('counter');
      expect((await Accounts.findOneAndDelete({ _id: 'ops' }).lean())?.status).toBe('replaced');
      await Accounts.insertMany([{ _id: 'd1', status: 'a' }, { _id: 'd2', status: 'b' }, { _id: 'd3', status: 'a' }]);
      expect((await Accounts.distinct('status')).sort()).toEqual(['a', 'b']);
    });

    it('upsert on a non-_id filter copies equality fields into the new document', async () => {
      await Accounts.updateOne({ _id: 'acc2', status: 'new' }, { $set: { name: 'two' } }, { upsert: true });
      expect(await Accounts.findById('acc2').lean()).toMatchObject({ _id: 'acc2', status: 'new', name: 'two' });
    });

    it("findOneAndUpdate upsert with returnDocument: 'after' (and new: true)", async () => {
      const created = await Accounts.findOneAndUpdate(
        { _id: 'acc3' },
        { $setOnInsert: { name: 'three' }, $inc: { counter: 1 } },
        { upsert: true, returnDocument: 'after' },
      ).lean();
      expect(created).toMatchObject({ _id: 'acc3', name: 'three', counter: 1 });
      const updated = await Accounts.findOneAndUpdate({ _id: 'acc3' }, { $inc: { counter: 2 } }, { new: true }).lean();
      expect(updated?.counter).toBe(3);
      const before = await Accounts.findOneAndUpdate({ _id: 'acc3' }, { $set: { name: '3' } }).lean();
      expect(before?.name).toBe('three');
      const missing = await Accounts.findOneAndUpdate({ _id: 'nope' }, { $set: { name: 'x' } }, { new: true });
      expect(missing).toBeNull();
    });

    it('$push (single value, $each), $pop, $pullAll', async () => {
      await Accounts.create({ _id: 'p', history: [] });
      for (let i = 0; i < 3; i++) {
        await Accounts.updateOne({ _id: 'p' }, { $push: { history: { $each: [{ eventId: `e${i}`, kind: 'k' }] } } });
      }
      await Accounts.updateOne({ _id: 'p' }, { $push: { tags: 't1' } }); // creates the array
      await Accounts.updateOne({ _id: 'p' }, { $push: { tags: { $each: ['t2', 't3', 't4'] } } });
      await Accounts.updateOne({ _id: 'p' }, { $pop: { tags: -1 } });
      await Accounts.updateOne({ _id: 'p' }, { $pullAll: { tags: ['t3'] } });
      const doc = await Accounts.findById('p').lean();
      expect(doc?.history?.map((h) => h.eventId)).toEqual(['e0', 'e1', 'e2']);
      expect(doc?.tags).toEqual(['t2', 't4']);
    });

    it('probe: $push modifiers $slice and $position', async () => {
      await Accounts.create({ _id: 'ps', tags: [] });
      await probe('$push with $each + $slice: -3 (keep the last 3)', async () => {
        for (let i = 0; i < 5; i++) {
          await Accounts.updateOne({ _id: 'ps' }, { $push: { tags: { $each: [`t${i}`], $slice: -3 } } });
        }
        const tags = (await Accounts.findById('ps').lean())?.tags;
        if (tags?.length !== 3) throw new Deviation(`$slice SILENTLY IGNORED: array grew to ${JSON.stringify(tags)}`);
      });
      await probe('$push with $each + $position: 0 (prepend)', async () => {
        await Accounts.updateOne({ _id: 'ps' }, { $set: { tags: ['b'] } });
        await Accounts.updateOne({ _id: 'ps' }, { $push: { tags: { $each: ['a'], $position: 0 } } });
        const tags = (await Accounts.findById('ps').lean())?.tags;
        if (tags?.[0] !== 'a') throw new Deviation(`$position SILENTLY IGNORED: got ${JSON.stringify(tags)}`);
      });
      expectAsDocumented();
    });

    it('$pull of a plain value and of an exact (whole) subdocument', async () => {
      await Accounts.create({
        _id: 'pl',
        outbox: [
          { eventId: 'e1', topic: 'a' },
          { eventId: 'e2', topic: 'a' },
          { eventId: 'e3', topic: 'b' },
        ],
        tags: ['x', 'y', 'x'],
      });
      await Accounts.updateOne({ _id: 'pl' }, { $pull: { tags: 'x' } });
      // Every field of the element, in the stored order.
      const res = await Accounts.updateOne({ _id: 'pl' }, { $pull: { outbox: { eventId: 'e1', topic: 'a' } } });
      expect(res.modifiedCount).toBe(1);
      const doc = await Accounts.findById('pl').lean();
      expect(doc?.tags).toEqual(['y']);
      expect(doc?.outbox?.map((o) => o.eventId)).toEqual(['e2', 'e3']);
    });

    it('probe: $pull with a condition', async () => {
      await Accounts.create({
        _id: 'pc',
        outbox: [
          { eventId: 'e1', topic: 'a' },
          { eventId: 'e2', topic: 'a' },
          { eventId: 'e3', topic: 'b' },
        ],
        tags: ['a', 'b', 'c'],
      });
      await probe("$pull with a condition on a subdocument field ({ outbox: { eventId: { $in: [...] } } })", async () => {
        const res = await Accounts.updateOne({ _id: 'pc' }, { $pull: { outbox: { eventId: { $in: ['e1', 'e3'] } } } });
        const left = (await Accounts.findById('pc').lean())?.outbox?.map((o) => o.eventId);
        if (res.modifiedCount !== 1 || left?.length !== 1) {
          throw new Deviation(`SILENTLY IGNORED: modifiedCount ${res.modifiedCount}, left ${JSON.stringify(left)}`);
        }
      });
      await probe('$pull with a partial subdocument ({ outbox: { topic: "a" } })', async () => {
        const res = await Accounts.updateOne({ _id: 'pc' }, { $pull: { outbox: { topic: 'a' } } });
        if (res.modifiedCount !== 1) throw new Deviation(`SILENTLY IGNORED: modifiedCount ${res.modifiedCount}`);
      });
      await probe('$pull with an operator on scalars ({ tags: { $in: ["a", "b"] } })', async () => {
        const res = await Accounts.updateOne({ _id: 'pc' }, { $pull: { tags: { $in: ['a', 'b'] } } });
        if (res.modifiedCount !== 1) throw new Deviation(`SILENTLY IGNORED: modifiedCount ${res.modifiedCount}`);
      });
      expectAsDocumented();
    });

    it('$addToSet (single and $each) and $unset', async () => {
      await Accounts.create({ _id: 'as', tags: ['a'], note: 'n' });
      await Accounts.updateOne({ _id: 'as' }, { $addToSet: { tags: 'a' } });
      await Accounts.updateOne({ _id: 'as' }, { $addToSet: { tags: { $each: ['b', 'a', 'c'] } } });
      await Accounts.updateOne({ _id: 'as' }, { $unset: { note: 1 } });
      const doc = await Accounts.findById('as').lean();
      expect(doc?.tags).toEqual(['a', 'b', 'c']);
      expect(doc).not.toHaveProperty('note');
    });

    it('idempotent conditional update: appliedEvents $ne + $push $each/$slice', async () => {
      await Accounts.create({ _id: 'idem', counter: 0, appliedEvents: [] });
      const apply = () =>
        Accounts.updateOne(
          { _id: 'idem', appliedEvents: { $ne: 'e1' } },
          { $set: { status: 'applied' }, $inc: { counter: 1 }, $push: { appliedEvents: { $each: ['e1'], $slice: -50 } } },
        );
      const first = await apply();
      expect(first.matchedCount).toBe(1);
      expect(first.modifiedCount).toBe(1);
      const second = await apply();
      expect(second.matchedCount).toBe(0);
      expect(second.modifiedCount).toBe(0);
      expect(await Accounts.findById('idem').lean()).toMatchObject({ counter: 1, appliedEvents: ['e1'], status: 'applied' });

      // Other events still apply once each.
      for (let i = 2; i <= 60; i++) {
        for (let attempt = 0; attempt < 2; attempt++) {
          await Accounts.updateOne(
            { _id: 'idem', appliedEvents: { $ne: `e${i}` } },
            { $inc: { counter: 1 }, $push: { appliedEvents: { $each: [`e${i}`], $slice: -50 } } },
          );
        }
      }
      const doc = await Accounts.findById('idem').lean();
      expect(doc?.counter).toBe(60);
      await probe('idempotency window: $slice: -50 trims appliedEvents to 50', async () => {
        const n = doc?.appliedEvents?.length;
        if (n !== 50) throw new Deviation(`$slice SILENTLY IGNORED: appliedEvents has ${n} entries (grows without bound)`);
      });
      expectAsDocumented();
    });

    it('optimistic concurrency: updateOne({ _id, version }) with $inc version', async () => {
      await Accounts.create({ _id: 'oc', version: 3, status: 'a' });
      const ok = await Accounts.updateOne({ _id: 'oc', version: 3 }, { $set: { status: 'b' }, $inc: { version: 1 } });
      expect(ok.matchedCount).toBe(1);
      const stale = await Accounts.updateOne({ _id: 'oc', version: 3 }, { $set: { status: 'c' }, $inc: { version: 1 } });
      expect(stale.matchedCount).toBe(0);
      expect(await Accounts.findById('oc').lean()).toMatchObject({ version: 4, status: 'b' });
    });

    it('bulkWrite with updateOne upserts (ordered: false) and deleteMany', async () => {
      await Accounts.create({ _id: 'b0', counter: 10 });
      const res = await Accounts.bulkWrite(
        [
          { updateOne: { filter: { _id: 'b0' }, update: { $inc: { counter: 1 } }, upsert: true } },
          { updateOne: { filter: { _id: 'b1' }, update: { $set: { status: 'x' }, $inc: { counter: 1 } }, upsert: true } },
          { updateOne: { filter: { _id: 'b2' }, update: { $set: { status: 'x' } }, upsert: true } },
          { deleteMany: { filter: { status: 'gone' } } },
        ],
        { ordered: false },
      );
      expect(res.upsertedCount).toBe(2);
      expect(res.matchedCount).toBe(1);
      expect(res.modifiedCount).toBe(1);
      expect(Object.values(res.upsertedIds).sort()).toEqual(['b1', 'b2']);
      const del = await Accounts.bulkWrite([{ deleteMany: { filter: { status: 'x' } } }], { ordered: false });
      expect(del.deletedCount).toBe(2);
      expect(await Accounts.countDocuments()).toBe(1);
      expect((await Accounts.deleteMany({})).deletedCount).toBe(1);
    });

    it('probe: bulkWrite ordered:false with one duplicate key error', async () => {
      await probe('bulkWrite ordered:false, one op fails with 11000, others applied', async () => {
        const coll = connA.collection('bulk_dup');
        await coll.createIndexes([{ key: { k: 1 }, name: 'k_1', unique: true }]);
        try {
          await coll.bulkWrite(
            [{ insertOne: { document: { k: 1 } } }, { insertOne: { document: { k: 1 } } }, { insertOne: { document: { k: 2 } } }],
            { ordered: false },
          );
        } catch (error) {
          const e = error as { code?: number; writeErrors?: unknown[] };
          const count = await coll.countDocuments();
          if (e.code === 11000 && count === 2) return 'MongoBulkWriteError code 11000, 2 of 3 inserted';
          throw new Deviation(`code ${e.code}, ${count} documents inserted`);
        }
        throw new Deviation('no error raised');
      });
      expectAsDocumented();
    });

    it('probe: arrayFilters, positional $ operator', async () => {
      await Accounts.create({
        _id: 'af',
        roles: [
          { role: 'admin', locationIds: ['L1'] },
          { role: 'user', locationIds: ['L2'] },
        ],
      });
      await probe('arrayFilters ($[elem])', async () => {
        await Accounts.updateOne(
          { _id: 'af' },
          { $push: { 'roles.$[r].locationIds': 'L9' } },
          { arrayFilters: [{ 'r.role': 'user' }] },
        );
        const doc = await Accounts.findById('af').lean();
        expectEq(doc?.roles?.[1]?.locationIds, ['L2', 'L9'], 'user role locations');
      });
      await probe('positional $ update (roles.$.field)', async () => {
        await Accounts.updateOne({ _id: 'af', 'roles.role': 'admin' }, { $set: { 'roles.$.locationIds': ['L7'] } });
        const doc = await Accounts.findById('af').lean();
        expectEq(doc?.roles?.[0]?.locationIds, ['L7'], 'admin role locations');
      });
      await probe('all-positional $[] update', async () => {
        await Accounts.updateOne({ _id: 'af' }, { $set: { 'roles.$[].role': 'x' } });
        const doc = await Accounts.findById('af').lean();
        expectEq(doc?.roles?.map((r) => r.role), ['x', 'x'], 'roles');
      });
      expectAsDocumented();
    });

    it('probe: update with an aggregation pipeline', async () => {
      await Accounts.create({ _id: 'pipe', counter: 1 });
      await probe('updateOne with a pipeline ([{ $set: ... }])', async () => {
        await Accounts.updateOne({ _id: 'pipe' }, [{ $set: { counter: { $add: ['$counter', 1] } } }]);
        expectEq((await Accounts.findById('pipe').lean())?.counter, 2, 'counter');
      });
      expectAsDocumented();
    });
  });

  describe('queries', () => {
    const base = new Date('2024-01-01T00:00:00Z');

    beforeAll(async () => {
      await Accounts.deleteMany({});
      await Accounts.insertMany([
        {
          _id: 'q1',
          status: 'active',
          outbox: [{ eventId: 'o1', topic: 't' }],
          roles: [{ role: 'admin', locationIds: ['L1', 'L2'] }],
          createdAt: new Date(base.getTime() + 1_000),
        },
        {
          _id: 'q2',
          status: 'active',
          outbox: [],
          roles: [{ role: 'user', locationIds: ['L1'] }],
          createdAt: new Date(base.getTime() + 2_000),
        },
        {
          _id: 'q3',
          status: 'closed',
          roles: [
            { role: 'user', locationIds: ['L3'] },
            { role: 'admin', locationIds: ['L4'] },
          ],
          createdAt: new Date(base.getTime() + 3_000),
        },
        { _id: 'q4', status: 'pending', createdAt: new Date(base.getTime() + 4_000) },
      ]);
    });

    const ids = async (filter: mongoose.FilterQuery<Account>) =>
      (await Accounts.find(filter).sort({ _id: 1 }).lean()).map((d) => d._id);

    it("{ 'outbox.0': { $exists: true } }", async () => {
      expect(await ids({ 'outbox.0': { $exists: true } })).toEqual(['q1']);
      expect(await ids({ 'outbox.0': { $exists: false } })).toEqual(['q2', 'q3', 'q4']);
    });

    it("{ 'roles.locationIds': 'L1' } (dotted path through an array of subdocuments)", async () => {
      expect(await ids({ 'roles.locationIds': 'L1' })).toEqual(['q1', 'q2']);
    });

    it('$all and a plain condition on an array of scalars', async () => {
      const coll = connA.collection('scores');
      await coll.deleteMany({});
      await coll.insertMany([
        { _id: 'a' as never, scores: [70, 82, 90] },
        { _id: 'b' as never, scores: [50, 95] },
      ]);
      expect((await coll.find({ scores: { $all: [50, 95] } }).toArray()).map((d) => d._id)).toEqual(['b']);
      expect((await coll.find({ scores: { $gt: 92 } }).toArray()).map((d) => d._id)).toEqual(['b']);
    });

    it('probe: $elemMatch', async () => {
      await probe('$elemMatch with a range on scalars ({ scores: { $elemMatch: { $gte: 80, $lt: 85 } } })', async () => {
        const coll = connA.collection('scores');
        const got = (await coll.find({ scores: { $elemMatch: { $gte: 80, $lt: 85 } } }).toArray()).map((d) => d._id);
        if (JSON.stringify(got) !== '["a"]') {
          throw new Deviation(`SILENTLY WRONG: matched ${JSON.stringify(got)} instead of ["a"] (conditions not applied to the same element)`);
        }
      });
      await probe('$elemMatch on subdocuments, one field ({ roles: { $elemMatch: { role: "admin" } } })', async () => {
        const got = await ids({ roles: { $elemMatch: { role: 'admin' } } });
        if (JSON.stringify(got) !== JSON.stringify(['q1', 'q3'])) {
          throw new Deviation(`SILENTLY WRONG: matched ${JSON.stringify(got)} instead of ["q1","q3"]`);
        }
      });
      await probe('$elemMatch on subdocuments, several fields ({ $elemMatch: { role, locationIds } })', async () => {
        expectEq(await ids({ roles: { $elemMatch: { role: 'admin', locationIds: 'L4' } } }), ['q3'], 'ids');
      });
      expectAsDocumented();
    });

    it('$in (scalar and array field)', async () => {
      expect(await ids({ status: { $in: ['active', 'pending'] } })).toEqual(['q1', 'q2', 'q4']);
      expect(await ids({ 'roles.locationIds': { $in: ['L3', 'L2'] } })).toEqual(['q1', 'q3']);
      expect(await ids({ _id: { $nin: ['q1', 'q2'] } })).toEqual(['q3', 'q4']);
    });

    it('$lt / $gte on Dates', async () => {
      expect(
        await ids({ createdAt: { $gte: new Date(base.getTime() + 2_000), $lt: new Date(base.getTime() + 4_000) } }),
      ).toEqual(['q2', 'q3']);
    });

    it('$or', async () => {
      expect(await ids({ $or: [{ status: 'closed' }, { 'roles.role': 'admin', status: 'active' }] })).toEqual(['q1', 'q3']);
    });

    it('probe: $regex, $size, sort on a date', async () => {
      await probe('$regex query', async () => {
        expectEq(await ids({ status: { $regex: '^act' } }), ['q1', 'q2'], 'regex');
      });
      await probe('$size query', async () => {
        expectEq(await ids({ roles: { $size: 2 } }), ['q3'], 'size');
      });
      await probe('sort by Date descending', async () => {
        const docs = await Accounts.find().sort({ createdAt: -1 }).limit(2).lean();
        expectEq(docs.map((d) => d._id), ['q4', 'q3'], 'order');
      });
      expectAsDocumented();
    });
  });

  describe('aggregate', () => {
    beforeAll(async () => {
      await Items.deleteMany({});
      await Items.insertMany(
        Array.from({ length: 30 }, (_, i) => ({ sku: `s${i % 3}`, n: i, at: new Date(Date.UTC(2024, 0, 1 + i)) })),
      );
    });

    it('$match, $group (one accumulator: count or $sum of a field), $sort, $limit, $count', async () => {
      const counts = await Items.aggregate<{ _id: string; count: number }>([
        { $match: { n: { $gte: 4 } } },
        { $group: { _id: '$sku', count: { $sum: 1 } } },
        { $sort: { count: -1, _id: 1 } },
        { $limit: 2 },
      ]);
      expect(counts).toEqual([
        { _id: 's1', count: 9 },
        { _id: 's2', count: 9 },
      ]);
      const totals = await Items.aggregate<{ _id: string; total: number }>([
        { $match: { n: { $gte: 3 } } },
        { $group: { _id: '$sku', total: { $sum: '$n' } } },
        { $sort: { total: -1 } },
        { $limit: 2 },
      ]);
      expect(totals).toEqual([
        { _id: 's2', total: 153 },
        { _id: 's1', total: 144 },
      ]);
      const byKey = await Items.aggregate([{ $group: { _id: { sku: '$sku' }, c: { $count: {} } } }, { $sort: { '_id.sku': 1 } }]);
      expect(byKey[0]).toEqual({ _id: { sku: 's0' }, c: 10 });
      const [counted] = await Items.aggregate([{ $match: { sku: 's0' } }, { $count: 'c' }]);
      expect(counted).toEqual({ c: 10 });
      const page = await Items.aggregate([{ $sort: { n: -1 } }, { $skip: 1 }, { $limit: 1 }, { $unset: ['at', '__v'] }]);
      expect(page).toEqual([expect.objectContaining({ sku: 's1', n: 28 })]);
    });

    it('probe: other stages and accumulators', async () => {
      await probe('aggregate $group with TWO accumulators ({ count: { $sum: 1 }, total: { $sum: "$n" } })', async () => {
        const rows = await Items.aggregate([
          { $match: { sku: 's0' } },
          { $group: { _id: '$sku', count: { $sum: 1 }, total: { $sum: '$n' } } },
        ]);
        if (rows[0]?.count !== 10 || rows[0]?.total !== 135) {
          throw new Deviation(`SILENTLY WRONG: got ${JSON.stringify(rows)} (only the first accumulator is computed, the others come back 0)`);
        }
      });
      await probe('aggregate $project with a field path ({ m: "$n" })', async () => {
        const rows = await Items.aggregate([{ $match: { n: 1 } }, { $project: { _id: 0, sku: 1, m: '$n' } }]);
        if (rows[0]?.m !== 1) throw new Deviation(`SILENTLY WRONG: got ${JSON.stringify(rows)} (the path is returned as a literal string)`);
      });
      await probe('aggregate $sortByCount', async () => {
        const rows = await Items.aggregate([{ $sortByCount: '$sku' }]);
        expectEq(rows.map((r) => r.count), [10, 10, 10], 'counts');
      });
      await probe('aggregate $project with $multiply', async () => {
        const rows = await Items.aggregate([{ $match: { n: 1 } }, { $project: { _id: 0, sku: 1, twice: { $multiply: ['$n', 2] } } }]);
        expectEq(rows, [{ sku: 's1', twice: 2 }], 'rows');
      });
      await probe('aggregate $group with $max/$min/$first/$push', async () => {
        const rows = await Items.aggregate([
          { $sort: { n: 1 } },
          { $group: { _id: '$sku', max: { $max: '$n' }, min: { $min: '$n' }, first: { $first: '$n' }, all: { $push: '$n' } } },
          { $sort: { _id: 1 } },
          { $limit: 1 },
        ]);
        expectEq(rows[0]?.max, 27, 'max');
        expectEq(rows[0]?.all?.length, 10, 'push');
      });
      await probe('aggregate $unwind', async () => {
        await Items.create({ sku: 'arr', n: -1, tags: ['a', 'b'] });
        const rows = await Items.aggregate([{ $match: { sku: 'arr' } }, { $unwind: '$tags' }]);
        expectEq(rows.length, 2, 'rows');
      });
      await probe('aggregate $group by date part ($dateToString)', async () => {
        const rows = await Items.aggregate([
          { $match: { at: { $exists: true } } },
          { $group: { _id: { $dateToString: { format: '%Y-%m', date: '$at' } }, c: { $sum: 1 } } },
          { $sort: { _id: 1 } },
        ]);
        expectEq(rows, [{ _id: '2024-01', c: 30 }], 'groups');
      });
      await probe('aggregate $lookup', async () => {
        const rows = await Items.aggregate([
          { $match: { n: 1 } },
          { $lookup: { from: 'accounts', localField: 'sku', foreignField: 'status', as: 'acc' } },
        ]);
        expectEq(rows.length, 1, 'rows');
      });
      await probe('aggregate $facet', async () => {
        const total = await Items.countDocuments();
        const [row] = await Items.aggregate([{ $facet: { a: [{ $count: 'c' }], b: [{ $limit: 1 }] } }]);
        expectEq([row?.a, row?.b?.length], [[{ c: total }], 1], 'facets');
      });
      expectAsDocumented();
    });
  });

  describe('cursor', () => {
    it('streams 5,000 documents with .cursor({ batchSize: 500 })', async () => {
      const Bulk = connA.model('BulkDoc', new Schema({ i: Number, pad: String }, { autoIndex: false }), 'bulk_docs');
      await Bulk.deleteMany({});
      const docs = Array.from({ length: 5_000 }, (_, i) => ({ i, pad: 'x'.repeat(100) }));
      const t = Date.now();
      await Bulk.insertMany(docs, { lean: true });
      timings.push(`insertMany of 5,000 small documents: ${Date.now() - t} ms`);

      const t2 = Date.now();
      let count = 0;
      let last = -1;
      let ordered = true;
      for await (const doc of Bulk.find().sort({ i: 1 }).lean().cursor({ batchSize: 500 })) {
        if ((doc as { i: number }).i <= last) ordered = false;
        last = (doc as { i: number }).i;
        count++;
      }
      timings.push(`cursor over 5,000 documents (batchSize 500, sorted): ${Date.now() - t2} ms`);
      expect(count).toBe(5_000);
      expect(ordered).toBe(true);

      let unsorted = 0;
      for await (const _ of Bulk.find({ i: { $gte: 1_000 } }).cursor({ batchSize: 500 })) unsorted++;
      expect(unsorted).toBe(4_000);

      // The rollover's scan names an index (hint), which MongoDB follows; FerretDB accepts it and finds every match.
      await Bulk.collection.createIndex({ i: 1, _id: 1 });
      let hinted = 0;
      for await (const _ of Bulk.collection.find({ i: { $lt: 700 } }, { batchSize: 300, hint: { i: 1, _id: 1 } })) hinted++;
      expect(hinted).toBe(700);
    });
  });

  describe('transactions', () => {
    it('probe: multi-document transaction', async () => {
      await probe('transactions (session.withTransaction)', async () => {
        const session = await connA.startSession();
        try {
          await session.withTransaction(async () => {
            await Accounts.create([{ _id: 'tx1' }], { session });
          });
        } finally {
          await session.endSession();
        }
        if (!(await Accounts.exists({ _id: 'tx1' }))) throw new Deviation('committed document is missing');
        return 'accepted (NOT necessarily atomic)';
      });
      expectAsDocumented();
    });
  });

  describe('change streams', () => {
    it('probe: watch()', async () => {
      await probe('change streams (collection.watch)', async () => {
        const stream = Accounts.collection.watch();
        try {
          await Promise.race([stream.tryNext(), new Promise((r) => setTimeout(r, 500))]);
        } finally {
          await stream.close();
        }
      });
      expectAsDocumented();
    });
  });

  describe('two databases on one server', () => {
    it('keeps collections of svc_a and svc_b apart', async () => {
      const A = connA.model('Shared', new Schema({ v: String }, { autoIndex: false }), 'shared');
      const B = connB.model('Shared', new Schema({ v: String }, { autoIndex: false }), 'shared');
      await A.deleteMany({});
      await B.deleteMany({});
      await A.create({ v: 'a' });
      await B.create([{ v: 'b1' }, { v: 'b2' }]);
      expect(await A.countDocuments()).toBe(1);
      expect(await B.countDocuments()).toBe(2);
      const dbs = (await connA.getClient().db('admin').admin().listDatabases()).databases.map((d) => d.name);
      expect(dbs).toEqual(expect.arrayContaining(['svc_a', 'svc_b']));
    });
  });

  describe('throughput', () => {
    it('2,000 sequential single-document upserts via mongoose', async () => {
      const Counters = connB.model(
        'Counter',
        new Schema({ _id: String, n: Number, last: Date }, { autoIndex: false, versionKey: false }),
        'counters',
      );
      const total = 2_000;
      const t = Date.now();
      for (let i = 0; i < total; i++) {
        await Counters.updateOne(
          { _id: `c${i % 500}` },
          { $inc: { n: 1 }, $set: { last: new Date() } },
          { upsert: true },
        );
      }
      const ms = Date.now() - t;
      const line = `2,000 sequential single-document upserts (500 keys, mongoose updateOne upsert): ${ms} ms, ${Math.round((total * 1000) / ms)} ops/s`;
      timings.push(line);
      // eslint-disable-next-line no-console
      console.log(line);
      expect(await Counters.countDocuments()).toBe(500);
      const [sum] = await Counters.aggregate([{ $group: { _id: null, n: { $sum: '$n' } } }]);
      expect(sum.n).toBe(total);
    });
  });

  // Last: the probes above ran (a table entry without its probe would document nothing).
  describe('the documented table', () => {
    it('every operation EXPECTED lists was probed', () => {
      const probed = new Set(findings.map((f) => f.operation));
      expect(Object.keys(EXPECTED).filter((operation) => !probed.has(operation))).toEqual([]);
    });
  });
});
