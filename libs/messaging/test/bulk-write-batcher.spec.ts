import { uniqueName } from '@lib/testing';
import { Collection, CommandStartedEvent, Document, MongoClient } from 'mongodb';
import { BulkWriteBatcher } from '../src/bulk-write-batcher';
import { isDuplicateKey } from '../src/errors';

// Against the test database server (real connections): writes issued together go out as one command, and each
// keeps its own outcome.
interface Item {
  _id: string;
  n: number;
}

const mongo = new MongoClient(process.env.MONGO_URL!, { directConnection: true, monitorCommands: true });
const commands: CommandStartedEvent[] = [];
let items: Collection<Item>;

beforeAll(async () => {
  await mongo.connect();
  items = mongo.db(uniqueName('bulk_write_batcher')).collection<Item>('items');
  mongo.on('commandStarted', (event) => {
    if (event.commandName === 'insert' || event.commandName === 'update') commands.push(event);
  });
});

afterAll(async () => {
  await items.db.dropDatabase();
  await mongo.close();
});

beforeEach(async () => {
  await items.deleteMany({});
  commands.length = 0;
});

it('sends the writes issued in one turn as one command per kind, and applies every one', async () => {
  const batcher = new BulkWriteBatcher(items as unknown as Collection<Document>);
  await items.insertMany([{ _id: 'u1', n: 0 }, { _id: 'u2', n: 0 }]);
  commands.length = 0;

  await Promise.all([
    ...Array.from({ length: 40 }, (_, i) => batcher.write({ insertOne: { document: { _id: `i${i}`, n: i } } })),
    batcher.write<Item>({ updateOne: { filter: { _id: 'u1' }, update: { $inc: { n: 5 } } } }),
    batcher.write<Item>({ updateOne: { filter: { _id: 'u2' }, update: { $inc: { n: 7 } } } }),
    batcher.write<Item>({ updateOne: { filter: { _id: 'u3' }, update: { $set: { n: 9 } }, upsert: true } }),
  ]);

  expect(commands.map((c) => c.commandName).sort()).toEqual(['insert', 'update']);
  expect(await items.countDocuments()).toBe(43);
  expect(await items.find({ _id: { $in: ['u1', 'u2', 'u3', 'i39'] } }).sort({ _id: 1 }).toArray()).toEqual([
    { _id: 'i39', n: 39 },
    { _id: 'u1', n: 5 },
    { _id: 'u2', n: 7 },
    { _id: 'u3', n: 9 },
  ]);
});

it('rejects only the write that failed, with its own duplicate-key error; the others are applied', async () => {
  const batcher = new BulkWriteBatcher(items as unknown as Collection<Document>);
  await items.insertOne({ _id: 'taken', n: 1 });
  commands.length = 0;

  const outcomes = await Promise.allSettled([
    batcher.write({ insertOne: { document: { _id: 'a', n: 1 } } }),
    batcher.write({ insertOne: { document: { _id: 'taken', n: 2 } } }),
    batcher.write({ insertOne: { document: { _id: 'b', n: 3 } } }),
  ]);

  expect(commands).toHaveLength(1);
  expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect(isDuplicateKey((outcomes[1] as PromiseRejectedResult).reason)).toBe(true);
  expect(await items.find().sort({ _id: 1 }).toArray()).toEqual([
    { _id: 'a', n: 1 },
    { _id: 'b', n: 3 },
    { _id: 'taken', n: 1 },
  ]);
});

it('writes issued in different turns go out separately, and more than the batch size is split', async () => {
  const batcher = new BulkWriteBatcher(items as unknown as Collection<Document>, 10);
  await batcher.write({ insertOne: { document: { _id: 'first', n: 0 } } });
  await Promise.all(Array.from({ length: 25 }, (_, i) => batcher.write({ insertOne: { document: { _id: `x${i}`, n: i } } })));

  const sizes = commands.map((c) => (c.command.documents as unknown[]).length);
  expect(sizes[0]).toBe(1);
  expect(sizes.slice(1).sort((a, b) => a - b)).toEqual([5, 10, 10]); // the chunks go out side by side
  expect(await items.countDocuments()).toBe(26);
});

it('rejects every write of a command the server refused as a whole', async () => {
  const closed = new MongoClient(process.env.MONGO_URL!, { directConnection: true, serverSelectionTimeoutMS: 200 });
  await closed.connect();
  const batcher = new BulkWriteBatcher(closed.db(items.dbName).collection('items'));
  await closed.close();

  const outcomes = await Promise.allSettled([
    batcher.write({ insertOne: { document: { _id: 'p', n: 1 } } }),
    batcher.write({ insertOne: { document: { _id: 'q', n: 2 } } }),
  ]);

  expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
  expect(await items.countDocuments()).toBe(0);
});
