import { uniqueName } from '@lib/testing';
import { Collection, CommandStartedEvent, Document, MongoClient } from 'mongodb';
import { scanInBatches, ScanOptions } from '../src/common/bulk';

// Against the test database server (real connections): the rollover's scan of a year. MongoDB kills a cursor left
// idle for 10 minutes, and ROLLOVER_BATCH_PAUSE_MS may be longer: with a pause, no cursor may wait across it.
const mongo = new MongoClient(process.env.MONGO_URL!, { directConnection: true, monitorCommands: true });
let docs: Collection<Document>;
const commands: CommandStartedEvent[] = [];

beforeAll(async () => {
  await mongo.connect();
  docs = mongo.db(uniqueName('scan_in_batches')).collection('enrollments');
  await docs.createIndex({ fiscalYear: 1, _id: 1 });
  // 25 of FY27 (ids e00..e24, inserted out of order) and a few of FY28 that the scan must not read.
  const ids = Array.from({ length: 25 }, (_, i) => `e${String(i).padStart(2, '0')}`).reverse();
  await docs.insertMany([...ids.map((_id) => ({ _id, fiscalYear: 'FY27', done: false })), ...['f1', 'f2'].map((_id) => ({ _id, fiscalYear: 'FY28', done: false }))] as never);
  mongo.on('commandStarted', (event) => {
    if (event.commandName === 'find' || event.commandName === 'getMore') commands.push(event);
  });
});

afterAll(async () => {
  await docs.db.dropDatabase();
  await mongo.close();
});

beforeEach(async () => {
  await docs.updateMany({}, { $set: { done: false } });
  commands.length = 0;
});

const options = (overrides: Partial<ScanOptions> = {}): ScanOptions => ({
  batchSize: 10,
  hint: { fiscalYear: 1, _id: 1 },
  projection: {},
  inIdOrder: false,
  pauseMs: 0,
  stopping: () => false,
  ...overrides,
});

/** Reads the scan as the rollover does: each document it reads is written done, which takes it out of the filter. */
async function readAll(scan: AsyncGenerator<{ _id: string }>): Promise<string[]> {
  const read: string[] = [];
  for await (const doc of scan) {
    read.push(doc._id);
    await docs.updateOne({ _id: doc._id } as never, { $set: { done: true } });
  }
  return read;
}

const expected = Array.from({ length: 25 }, (_, i) => `e${String(i).padStart(2, '0')}`);

it('with a pause, reads each batch by a query of its own after the last id read: every document once, in _id order, no cursor left to wait', async () => {
  const read = await readAll(scanInBatches(docs, { fiscalYear: 'FY27', done: false }, options({ pauseMs: 5 })));
  expect(read).toEqual(expected);
  const finds = commands.filter((c) => c.commandName === 'find');
  expect(commands.filter((c) => c.commandName === 'getMore')).toEqual([]);
  expect(finds).toHaveLength(3);
  expect(finds.map((c) => [c.command.limit, Object.fromEntries(c.command.sort)])).toEqual(Array(3).fill([10, { _id: 1 }]));
  expect(finds[0].command.filter).toEqual({ fiscalYear: 'FY27', done: false });
  expect(finds[2].command.filter).toEqual({ $and: [{ fiscalYear: 'FY27', done: false }, { _id: { $gt: 'e19' } }] });
});

it('with a pause cut short by a shutdown, still reads on, for the caller to see the stop at its next document', async () => {
  let stopping = false;
  const read: string[] = [];
  for await (const doc of scanInBatches<{ _id: string }>(docs, { fiscalYear: 'FY27' }, options({ pauseMs: 60_000, stopping: () => stopping }))) {
    if (read.length === 10) break; // the caller's stop check, after the pause that the stop ended
    read.push(doc._id);
    if (read.length === 10) stopping = true;
  }
  expect(read).toEqual(expected.slice(0, 10));
});

it('without a pause, streams one cursor (in _id order when asked)', async () => {
  const read = await readAll(scanInBatches(docs, { fiscalYear: 'FY27' }, options({ inIdOrder: true })));
  expect(read).toEqual(expected);
  expect(commands.filter((c) => c.commandName === 'find')).toHaveLength(1);
  expect(commands[0].command.batchSize).toBe(10);
  expect(Object.fromEntries(commands[0].command.sort)).toEqual({ _id: 1 });
});
