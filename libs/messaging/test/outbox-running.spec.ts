import { uniqueName } from '@lib/testing';
import { Connection, createConnection, Model, Schema } from 'mongoose';
import { outboxPlugin, OutboxEntry, PendingOutboxes, pushOutbox } from '../src/outbox';

// Against the test database server: mongoose writes that add outbox entries to documents, inserts too, are marked
// running from their pre hook to their post hook (also when they fail), so the relay reads such a document again (an
// insert taking longer than the relay's grace for a noted document it finds empty keeps its note).
interface Widget {
  _id: string;
  name: string;
  outbox?: OutboxEntry[];
}

const schema = new Schema<Widget>({ _id: String, name: String });
schema.plugin(outboxPlugin);
/** Whether each write was marked running while it ran: hooks run in order, this one after the plugin's. */
const seen: boolean[] = [];
schema.pre(['updateOne', 'findOneAndUpdate'], function () {
  seen.push(PendingOutboxes.isWriting(namespace, 'w1'));
});
schema.pre('save', function () {
  seen.push(PendingOutboxes.isWriting(namespace, this._id));
});

let connection: Connection;
let widgets: Model<Widget>;
let namespace: string;
const entry = (eventId: string): OutboxEntry => ({ eventId, topic: 'widgets.events.v1', key: 'w1', value: '{}', createdAt: new Date() });

beforeAll(async () => {
  connection = await createConnection(process.env.MONGO_URL!, { dbName: uniqueName('outbox_running') }).asPromise();
  widgets = connection.model<Widget>('Widget', schema);
  namespace = `${connection.db!.databaseName}.${widgets.collection.collectionName}`;
  await widgets.init(); // as ModelsReady does: on mongo-java-server a write racing the collection's creation can be lost
  await widgets.create({ _id: 'w1', name: 'one' });
  seen.length = 0;
});

afterAll(async () => {
  await connection.dropDatabase();
  await connection.close();
});

it('updateOne and findOneAndUpdate: running while they run, not after', async () => {
  await widgets.updateOne({ _id: 'w1' }, { $push: pushOutbox([entry('e1')]) });
  await widgets.findOneAndUpdate({ _id: 'w1' }, { $push: pushOutbox([entry('e2')]) });
  expect(seen.splice(0)).toEqual([true, true]);
  expect(PendingOutboxes.isWriting(namespace, 'w1')).toBe(false);
});

it('a write that fails is not left running', async () => {
  await expect(widgets.updateOne({ _id: 'w1' }, { $push: pushOutbox([entry('e3')]), $inc: { name: 1 } } as never)).rejects.toThrow();
  // It was marked (its pre hooks ran), and its error ended the mark.
  expect(seen.splice(0)).toEqual([true]);
  expect(PendingOutboxes.isWriting(namespace, 'w1')).toBe(false);
});

it('save of an existing document with entries: running while it runs, not after', async () => {
  seen.length = 0;
  const widget = (await widgets.findById('w1').select('+outbox'))!;
  widget.outbox!.push(entry('e4'));
  await widget.save();
  expect(seen).toEqual([true]);
  expect(PendingOutboxes.isWriting(namespace, 'w1')).toBe(false);
});

it('save of a new document with entries (create): running while it runs, not after, also when it fails', async () => {
  seen.length = 0;
  await widgets.create({ _id: 'w2', name: 'two', outbox: [entry('e5')] });
  expect(seen).toEqual([true]);
  expect(PendingOutboxes.isWriting(namespace, 'w2')).toBe(false);
  await expect(widgets.create({ _id: 'w2', name: 'again', outbox: [entry('e6')] })).rejects.toThrow(/duplicate key/i);
  expect(seen).toEqual([true, true]);
  expect(PendingOutboxes.isWriting(namespace, 'w2')).toBe(false);
});

it('a write without outbox entries is not marked', async () => {
  seen.length = 0;
  await widgets.updateOne({ _id: 'w1' }, { $set: { name: 'two' } });
  expect(seen).toEqual([false]);
});
