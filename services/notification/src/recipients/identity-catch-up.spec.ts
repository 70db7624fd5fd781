import { classifyFailure, ShuttingDownError } from '@lib/messaging';
import { Logger } from '@nestjs/common';
import { IdentityCatchUp } from './identity-catch-up';

/** The broker as the check sees it: one identity partition, its offsets by time and bounds, and the group's commit. */
function broker(state: { target: number; low?: number; committed: () => number }) {
  const calls = { connect: 0, groups: new Set<string>() };
  const admin = {
    connect: async () => void calls.connect++,
    disconnect: async () => undefined,
    fetchTopicOffsetsByTimestamp: async () => [{ partition: 0, offset: String(state.target) }],
    fetchTopicOffsets: async () => [{ partition: 0, low: String(state.low ?? 0), high: String(state.target), offset: String(state.target) }],
    fetchOffsets: async ({ groupId, topics }: { groupId: string; topics: string[] }) => calls.groups.add(groupId) && topics.map((topic) => ({ topic, partitions: [{ partition: 0, offset: String(state.committed()) }] })),
  };
  return { kafka: { admin: () => admin }, calls };
}

function catchUp(kafka: unknown, work = { stopRequested: false }, waitMs = 300) {
  const options = { serviceName: 'notification', brokers: [], ownConsumers: { identity: ['identity.events.v1'] } };
  return new IdentityCatchUp(kafka as never, options, work as never, { NOTIFY_IDENTITY_WAIT_MS: waitMs });
}

const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

beforeAll(() => Logger.overrideLogger(false));

describe('IdentityCatchUp', () => {
  it('says to look again whenever it asked the broker (the view may have caught up since the first look), and remembers the time', async () => {
    const { kafka, calls } = broker({ target: 10, committed: () => 10 });
    const subject = catchUp(kafka);
    expect(await subject.waitFor(ago(1_000))).toBe('caught-up');
    expect(await subject.waitFor(ago(2_000))).toBe('current'); // older: known caught up, no broker call
    expect(calls.connect).toBe(1);
  });

  it('waits while the group catches up, and gives up at the deadline, then does not wait again for a while', async () => {
    let committed = 5;
    const { kafka, calls } = broker({ target: 10, committed: () => committed });
    const subject = catchUp(kafka);
    const caughtUp = subject.waitFor(ago(1_000));
    setTimeout(() => (committed = 10), 150);
    expect(await caughtUp).toBe('caught-up');

    committed = 5;
    const started = Date.now();
    expect(await subject.waitFor(new Date().toISOString())).toBe('behind');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    // One stall per QUIET_AFTER_TIMEOUT_MS, not one per event: the next answers at once, without the broker.
    const connects = calls.connect;
    const again = Date.now();
    expect(await subject.waitFor(new Date().toISOString())).toBe('behind');
    expect(Date.now() - again).toBeLessThan(50);
    expect(calls.connect).toBe(connects);
  });

  it("waits for a backlog as long as the identity consumer gets closer, past NOTIFY_IDENTITY_WAIT_MS; reads that consumer's own group", async () => {
    let committed = 0;
    const { kafka, calls } = broker({ target: 5_000, committed: () => committed });
    const progress = setInterval(() => (committed = Math.min(5_000, committed + 500)), 100);
    try {
      const started = Date.now();
      expect(await catchUp(kafka, undefined, 300).waitFor(ago(1_000))).toBe('caught-up');
      expect(Date.now() - started).toBeGreaterThan(600);
    } finally {
      clearInterval(progress);
    }
    expect([...calls.groups]).toEqual(['notification-identity']);
  });

  it('throws ShuttingDownError when the service stops during a wait: retried as an outage, the offset left uncommitted', async () => {
    const { kafka } = broker({ target: 10, committed: () => 5 });
    const work = { stopRequested: false };
    const waiting = catchUp(kafka, work, 10_000).waitFor(ago(1_000));
    setTimeout(() => (work.stopRequested = true), 100);
    const error = await waiting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ShuttingDownError);
    expect(classifyFailure(error)).toBe('infrastructure');
  });

  it("remembers no later than when it asked: an event dated ahead (another service's clock) does not excuse later ones", async () => {
    const { kafka, calls } = broker({ target: 10, committed: () => 10 });
    const subject = catchUp(kafka);
    expect(await subject.waitFor(new Date(Date.now() + 60_000).toISOString())).toBe('caught-up');
    expect(await subject.waitFor(new Date(Date.now() + 30_000).toISOString())).toBe('caught-up'); // asked again
    expect(calls.connect).toBe(2);
  });

  it('counts a partition whose messages before the event are all gone (retention) as handled, with no commit there', async () => {
    const { kafka } = broker({ target: 10, low: 10, committed: () => -1 });
    expect(await catchUp(kafka, undefined, 10_000).waitFor(ago(1_000))).toBe('caught-up');
  });
});
