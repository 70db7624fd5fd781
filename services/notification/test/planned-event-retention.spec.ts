import { uniqueName } from '@lib/testing';
import mongoose, { Connection, Model } from 'mongoose';
import { PlannedEventRetention } from '../src/messages/planned-event-retention';
import { PlannedEvent, PlannedEventSchema } from '../src/messages/planned-event.schema';

// Against the test database server (real connections): the records of whom an event was told go once the event is
// too old to notify anyone.
let connection: Connection;
let planned: Model<PlannedEvent>;

beforeAll(async () => {
  connection = await mongoose.createConnection(process.env.MONGO_URL!, { dbName: uniqueName('planned'), directConnection: true }).asPromise();
  planned = connection.model(PlannedEvent.name, PlannedEventSchema);
  await planned.init();
});

afterAll(async () => {
  await connection.dropDatabase();
  await connection.close();
});

const day = 86_400_000;

it('removes the records older than NOTIFY_MAX_EVENT_AGE_MS and a day, keeps the others, and keeps all when there is no age limit', async () => {
  const now = Date.now();
  await planned.insertMany([
    { _id: 'nine-days', recipients: ['u1'], plannedAt: new Date(now - 9 * day) },
    { _id: 'seven-and-a-half-days', recipients: ['u1'], plannedAt: new Date(now - 7.5 * day) },
    { _id: 'today', recipients: ['u2'], plannedAt: new Date(now) },
  ]);
  const retention = (maxAgeMs: number) => new PlannedEventRetention(planned, { NOTIFY_MAX_EVENT_AGE_MS: maxAgeMs });
  const left = async () => (await planned.find({}, { _id: 1 }).sort({ _id: 1 }).lean()).map((doc) => doc._id);

  expect(await retention(0).removeExpired()).toBe(0);
  expect(await left()).toEqual(['nine-days', 'seven-and-a-half-days', 'today']);

  // Seven days' age limit: past it by less than the day's margin (clocks of producer and replica) is kept.
  expect(await retention(7 * day).removeExpired()).toBe(1);
  expect(await left()).toEqual(['seven-and-a-half-days', 'today']);
});
