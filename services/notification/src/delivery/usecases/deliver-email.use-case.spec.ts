import type { NotificationConfig } from '../../config';
import { DeliverEmail } from './deliver-email.use-case';

type Lease = { stop(): Promise<void> };

/** The use case with a database whose lease renewals answer only when the test lets them. */
function withStalledDatabase() {
  const pending: Array<() => void> = [];
  const updateOne = jest.fn(() => new Promise<{ matchedCount: number }>((resolve) => pending.push(() => resolve({ matchedCount: 1 }))));
  const messages = { collection: { updateOne, find: jest.fn() } };
  const none = {} as never;
  const use = new DeliverEmail(messages as never, none, none, none, none, none, none, none, none, none, { NOTIFY_LEASE_MS: 3_000 } as NotificationConfig);
  const keepLease = (use as unknown as { keepLease(message: unknown): Lease }).keepLease.bind(use);
  return {
    keepLease,
    updateOne,
    release: () => pending.splice(0).forEach((resolve) => resolve()),
    /** The renewals answer newest first: the oldest lands last. */
    releaseNewestFirst: () => pending.splice(0).reverse().forEach((resolve) => resolve()),
  };
}

describe('DeliverEmail keeping its lease while it sends', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  // A renewal stalled on the database: stop() awaited only the last one started, so the first could land after the
  // outcome write. And the next renewal waited for it past a tick: started only a whole lease after the send began,
  // when a lease with five sixths left at the send could have lapsed, and another instance sent the email again.
  it('renews every third of a lease, also while the last renewal still waits, and stop() waits for every one running', async () => {
    const { keepLease, updateOne, release } = withStalledDatabase();
    const lease = keepLease({ _id: 'm1', leaseToken: 't1', leaseUntil: new Date(Date.now() + 2_500) });
    await jest.advanceTimersByTimeAsync(1_000);
    expect(updateOne).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1_000); // the first still waiting: another before the lease ends at 2,500 ms
    expect(updateOne).toHaveBeenCalledTimes(2);

    let stopped = false;
    const stopping = lease.stop().then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(100);
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(stopped).toBe(true);
    await jest.advanceTimersByTimeAsync(5_000);
    expect(updateOne).toHaveBeenCalledTimes(2);
  });

  // A stuck connection: the lease must not lapse behind it (another instance would send the email again), and the
  // send's end (and shutdown) must not wait on it for ever.
  it('leaves a renewal hung for a tick behind, renewing again, and stop() waits for it a sixth of a lease only', async () => {
    const { keepLease, updateOne } = withStalledDatabase();
    const lease = keepLease({ _id: 'm1', leaseToken: 't1', leaseUntil: new Date() });
    await jest.advanceTimersByTimeAsync(3_000);
    expect(updateOne).toHaveBeenCalledTimes(3);
    let stopped = false;
    const stopping = lease.stop().then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(400);
    expect(stopped).toBe(false);
    await jest.advanceTimersByTimeAsync(100); // 3,000 ms / 6
    await stopping;
    expect(stopped).toBe(true);
  });

  // Renewals overlap when one is held up: the one that lands last may be the oldest, and must not pull the lease back.
  it('only ever moves the lease later: each renewal a $max, and the lease it knows only raised', async () => {
    const { keepLease, updateOne, releaseNewestFirst } = withStalledDatabase();
    const message = { _id: 'm1', leaseToken: 't1', leaseUntil: new Date(Date.now() + 2_500) };
    const lease = keepLease(message);
    await jest.advanceTimersByTimeAsync(2_000); // two renewals waiting: to 4,000 and to 5,000 ms
    const updates = (updateOne.mock.calls as unknown as Array<[unknown, { $max?: { leaseUntil: Date } }]>).map(([, update]) => update);
    expect(updates.map((u) => u.$max?.leaseUntil)).toEqual([expect.any(Date), expect.any(Date)]);
    releaseNewestFirst();
    await lease.stop();
    expect(+message.leaseUntil).toBe(Math.max(...updates.map((u) => +u.$max!.leaseUntil)));
  });

  it('renews again once the last renewal has answered', async () => {
    const { keepLease, updateOne, release } = withStalledDatabase();
    const lease = keepLease({ _id: 'm1', leaseToken: 't1', leaseUntil: new Date() });
    await jest.advanceTimersByTimeAsync(1_000);
    release();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(updateOne).toHaveBeenCalledTimes(2);
    release();
    await lease.stop();
  });
});
