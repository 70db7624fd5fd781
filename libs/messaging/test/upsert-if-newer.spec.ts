import { uniqueName } from '@lib/testing';
import { Collection, MongoClient } from 'mongodb';
import { REVISION_GUARD_INDEX, upsertIfNewer, WRITE_REVISION } from '../src/upsert-if-newer';

// Against the test database server (real connections): views built from events keep the newest fact.
interface Fact {
  _id: string;
  at: number;
  value: string;
  _rev?: number;
}

const mongo = new MongoClient(process.env.MONGO_URL!, { directConnection: true });
let facts: Collection<Fact>;

beforeAll(async () => {
  await mongo.connect();
  facts = mongo.db(uniqueName('upsert_if_newer')).collection<Fact>('facts');
  const [keys, options] = REVISION_GUARD_INDEX;
  await facts.createIndex(keys, options);
});

afterAll(async () => {
  await facts.db.dropDatabase();
  await mongo.close();
});

function record(id: string, at: number, value: string): Promise<boolean> {
  return upsertIfNewer<Fact>(facts as never, id, { replaces: (stored) => stored.at < at, set: { at, value } });
}

it('stores the first fact, replaces it with a newer one and keeps it over an older one delivered late', async () => {
  expect(await record('a', 2, 'second')).toBe(true);
  expect(await facts.findOne({ _id: 'a' })).toEqual({ _id: 'a', at: 2, value: 'second', [WRITE_REVISION]: 1 });

  expect(await record('a', 1, 'first')).toBe(false);
  expect(await facts.findOne({ _id: 'a' })).toMatchObject({ at: 2, value: 'second', [WRITE_REVISION]: 1 });

  expect(await record('a', 3, 'third')).toBe(true);
  expect(await facts.findOne({ _id: 'a' })).toMatchObject({ at: 3, value: 'third', [WRITE_REVISION]: 2 });
});

it('keeps the newest of many facts written at the same time, whatever order they land in', async () => {
  const ats = Array.from({ length: 40 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
  const wrote = await Promise.all(ats.map((at) => record('b', at, `v${at}`)));

  const stored = await facts.findOne({ _id: 'b' });
  expect(stored).toMatchObject({ at: 40, value: 'v40' });
  // Every reported write happened (the revision counts them) and at least the first and the newest did.
  expect(stored![WRITE_REVISION]).toBe(wrote.filter(Boolean).length);
  expect(wrote.filter(Boolean).length).toBeGreaterThanOrEqual(1);
  expect(wrote[ats.indexOf(40)]).toBe(true);
});

it('replaces a document written before the revision guard existed', async () => {
  await facts.insertOne({ _id: 'legacy', at: 1, value: 'old' });
  expect(await record('legacy', 0, 'older')).toBe(false);
  expect(await record('legacy', 5, 'newer')).toBe(true);
  expect(await facts.findOne({ _id: 'legacy' })).toMatchObject({ at: 5, value: 'newer', [WRITE_REVISION]: 1 });
});

it('sets dotted paths, keeping the rest of the document', async () => {
  await upsertIfNewer<{ years?: Record<string, { at: number }> }>(facts as never, 'c', {
    replaces: () => true,
    set: { 'years.FY26': { at: 1 } },
  });
  await upsertIfNewer<{ years: Record<string, { at: number }> }>(facts as never, 'c', {
    replaces: (stored) => !stored.years.FY27,
    set: { 'years.FY27': { at: 2 } },
  });
  expect(await facts.findOne({ _id: 'c' })).toMatchObject({ years: { FY26: { at: 1 }, FY27: { at: 2 } }, [WRITE_REVISION]: 2 });
});

it('writes nothing for the same fact again (a replay): the revision stays, and it still answers written', async () => {
  const same = (at: number) => upsertIfNewer<Fact>(facts as never, 'same', { replaces: (stored) => stored.at <= at, set: { at, value: 'v', 'nested.when': new Date(at), 'nested.list': [{ a: 1 }] } });
  expect(await same(5)).toBe(true);
  expect(await facts.findOne({ _id: 'same' })).toMatchObject({ at: 5, [WRITE_REVISION]: 1 });
  expect(await same(5)).toBe(true);
  expect(await facts.findOne({ _id: 'same' })).toMatchObject({ at: 5, [WRITE_REVISION]: 1 });
  expect(await same(6)).toBe(true);
  expect(await facts.findOne({ _id: 'same' })).toMatchObject({ at: 6, nested: { when: new Date(6) }, [WRITE_REVISION]: 2 });
});
