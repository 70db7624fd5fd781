import { uniqueName } from '@lib/testing';
import type { Collection } from 'mongodb';
import mongoose, { Connection } from 'mongoose';
import { claimRun, releaseRun } from '../src/enrollments/follow-up.scheduler';
import { JobMark, JobMarkSchema } from '../src/enrollments/job-mark.schema';

// Against the test database server (real connections): the scheduled follow-up runs once an interval in the whole
// deployment, whichever instance's timer fires first.
let connection: Connection;
let marks: Collection<JobMark>;

beforeAll(async () => {
  connection = await mongoose.createConnection(process.env.MONGO_URL!, { dbName: uniqueName('follow-up-claim'), directConnection: true }).asPromise();
  const model = connection.model(JobMark.name, JobMarkSchema);
  await model.init();
  marks = model.collection as unknown as Collection<JobMark>;
});

afterAll(async () => {
  await connection.dropDatabase();
  await connection.close();
});

const HOUR = 3_600_000;
const at = (ms: number) => new Date(Date.UTC(2026, 11, 1) + ms);

it('takes an interval once: the first claim runs, others within nine tenths of it skip, the next interval runs again', async () => {
  const id = 'claim:intervals';
  expect(await claimRun(marks, id, HOUR, {}, at(0))).toEqual({ startedAt: at(0) });
  expect(await claimRun(marks, id, HOUR, {}, at(60_000))).toBeNull();
  expect(await claimRun(marks, id, HOUR, {}, at(0.89 * HOUR))).toBeNull();
  expect(await claimRun(marks, id, HOUR, {}, at(0.9 * HOUR))).toEqual({ startedAt: at(0.9 * HOUR) });
  expect(await marks.findOne({ _id: id })).toMatchObject({ upTo: at(0.9 * HOUR) });
  // Forced (a run at start): runs, and counts as the interval's start.
  expect(await claimRun(marks, id, HOUR, { force: true }, at(HOUR))).toEqual({ startedAt: at(HOUR) });
  expect(await claimRun(marks, id, HOUR, {}, at(1.5 * HOUR))).toBeNull();
  // Forced by an instance whose clock is behind: it runs, and does not move the last start back.
  expect(await claimRun(marks, id, HOUR, { force: true }, at(0.5 * HOUR))).toEqual({ startedAt: at(0.5 * HOUR) });
  expect(await marks.findOne({ _id: id })).toMatchObject({ upTo: at(HOUR) });
});

it('gives a failed run`s interval back, unless another run was recorded since', async () => {
  const id = 'claim:release';
  const failed = (await claimRun(marks, id, HOUR, {}, at(0)))!;
  await releaseRun(marks, id, failed);
  expect(await claimRun(marks, id, HOUR, {}, at(60_000))).toEqual({ startedAt: at(60_000) });
  // Given back late, after the next run's start: that one stands.
  await releaseRun(marks, id, failed);
  expect(await marks.findOne({ _id: id })).toMatchObject({ upTo: at(60_000) });
});

it('gives an interval to one of several instances claiming it at once', async () => {
  const id = 'claim:race';
  const claims = await Promise.all(Array.from({ length: 5 }, () => claimRun(marks, id, HOUR, {}, at(0))));
  expect(claims.filter(Boolean)).toHaveLength(1);
  const later = await Promise.all(Array.from({ length: 5 }, () => claimRun(marks, id, HOUR, {}, at(HOUR))));
  expect(later.filter(Boolean)).toHaveLength(1);
});
