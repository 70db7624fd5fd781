import { uniqueName } from '@lib/testing';
import { Collection, MongoClient } from 'mongodb';
import { OutboxEntry } from '../src/outbox';
import { removePublished } from '../src/outbox-relay';

// Against the test database server (real connections): the relay removes exactly the entries it published.
interface Doc {
  _id: string;
  outbox: OutboxEntry[];
}

const mongo = new MongoClient(process.env.MONGO_URL!, { directConnection: true });
let docs: Collection<Doc>;

beforeAll(async () => {
  await mongo.connect();
  docs = mongo.db(uniqueName('outbox_removal')).collection<Doc>('docs');
});

afterAll(async () => {
  await docs.db.dropDatabase();
  await mongo.close();
});

const entry = (id: string, n: number): OutboxEntry => ({
  eventId: `${id}-e${n}`,
  topic: 'widgets.events.v1',
  key: id,
  value: JSON.stringify({ eventId: `${id}-e${n}`, n }),
  createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)),
});

it('removes the entries read from every document of several groups, and keeps the ones written after the read', async () => {
  // 130 documents (more than two removal groups), with one or two entries each.
  const ids = Array.from({ length: 130 }, (_, i) => `w${i}`);
  await docs.insertMany(ids.map((id, i) => ({ _id: id, outbox: i % 3 === 0 ? [entry(id, 1), entry(id, 2)] : [entry(id, 1)] })));
  const read = (await docs.find({}, { projection: { outbox: 1 } }).toArray()) as Doc[];
  expect(read).toHaveLength(130);

  // Written between the read and the removal: must survive it.
  const late = ids.filter((_, i) => i % 10 === 0);
  await docs.updateMany({ _id: { $in: late } }, { $push: { outbox: { $each: [entry('late', 9)] } } });

  await removePublished(docs as never, read);

  const after = new Map((await docs.find({}).toArray()).map((doc) => [doc._id, doc.outbox.map((e) => e.eventId)]));
  for (const id of ids) expect([id, after.get(id)]).toEqual([id, late.includes(id) ? ['late-e9'] : []]);
});

it('leaves other documents alone', async () => {
  await docs.insertMany([
    { _id: 'x1', outbox: [entry('x1', 1)] },
    { _id: 'x2', outbox: [entry('x2', 1)] },
  ]);
  await removePublished(docs as never, [{ _id: 'x1', outbox: [entry('x1', 1)] }]);
  expect((await docs.findOne({ _id: 'x1' }))!.outbox).toEqual([]);
  expect((await docs.findOne({ _id: 'x2' }))!.outbox.map((e) => e.eventId)).toEqual(['x2-e1']);
});
