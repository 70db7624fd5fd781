import { uniqueName } from '@lib/testing';
import type { CommandStartedEvent } from 'mongodb';
import mongoose, { Connection, Schema } from 'mongoose';
import { outboxPlugin, pushOutbox, WITH_OUTBOX } from '../src/outbox';

// Against the test database server (real connections): what mongoose sends for a write that returns the document.
let connection: Connection;
const started: CommandStartedEvent[] = [];

beforeAll(async () => {
  connection = await mongoose.createConnection(process.env.MONGO_URL!, { dbName: uniqueName('outbox_projection'), directConnection: true, monitorCommands: true }).asPromise();
  connection.getClient().on('commandStarted', (event) => started.push(event));
});

afterAll(async () => {
  await connection.dropDatabase();
  await connection.close();
});

it('a findOneAndUpdate selecting WITH_OUTBOX sends its findAndModify without a projection (FerretDB cannot apply one), and writes the entries', async () => {
  const schema = new Schema({ _id: String, version: Number }, { versionKey: false });
  schema.plugin(outboxPlugin);
  const Widget = connection.model('Widget', schema);
  // As services do before they write (ModelsReady): on mongo-java-server a write racing mongoose's background
  // creation of the collection can be lost.
  await Widget.init();
  await Widget.create({ _id: 'w1', version: 1 });
  const entry = { eventId: 'e1', topic: 'widgets.events.v1', key: 'w1', value: '{}', createdAt: new Date() };

  started.length = 0;
  const found = await Widget.findOneAndUpdate({ _id: 'w1', version: 1 }, { $inc: { version: 1 }, $push: pushOutbox([entry]) }).select(WITH_OUTBOX).lean();
  expect(found).toMatchObject({ _id: 'w1', version: 1 });
  const [command] = started.filter((event) => event.commandName === 'findAndModify').map((event) => event.command);
  expect(command).toBeDefined();
  expect(command.fields).toBeUndefined();
  expect(await connection.collection('widgets').findOne({ _id: 'w1' as never })).toMatchObject({ version: 2, outbox: [{ eventId: 'e1' }] });

  // `'+outbox'` alone: mongoose excludes the other hidden path.
  started.length = 0;
  await Widget.findOneAndUpdate({ _id: 'w1' }, { $inc: { version: 1 } }).select('+outbox').lean();
  expect(started.find((event) => event.commandName === 'findAndModify')?.command.fields).toEqual({ outboxParked: 0 });
});
