import { classifyFailure, ShuttingDownError, UnavailableError } from '@lib/messaging';
import { Logger } from '@nestjs/common';
import { IdentityCatchUp } from './identity-catch-up';

/** The broker as the check sees it: one identity partition, its offsets by time and bounds, and the group's commit. */
function broker(state: { target: number; low?: number; committed: () => number; ends?: () => Promise<void> }) {
  const calls = { connect: 0, byTimestamp: 0, topicOffsets: 0, fetchOffsets: 0, groups: new Set<string>() };
  const admin = {
    connect: async () => void calls.connect++,
    disconnect: async () => undefined,
    fetchTopicOffsetsByTimestamp: async () => (calls.byTimestamp++, [{ partition: 0, offset: String(state.target) }]),
    fetchTopicOffsets: async () => {
      calls.topicOffsets++;
      await state.ends?.();
      return [{ partition: 0, low: String(state.low ?? 0), high: String(state.target), offset: String(state.target) }];
    },
    fetchOffsets: async ({ groupId, topics }: { groupId: string; topics: string[] }) => {
      calls.groups.add(groupId);
      calls.fetchOffsets++;
      return topics.map((topic) => ({ topic, partitions: [{ partition: 0, offset: String(state.committed()) }] }));
    },
  };
  return { kafka: { admin: () => admin }, calls };
}

function catchUp(kafka: unknown, work = { stopRequested: false }, waitMs = 300, consumers = { isConsuming: (_topic: string) => true }) {
  const options = { serviceName: 'notification', brokers: [], ownConsumers: { identity: ['identity.events.v1'] } };
  return new IdentityCatchUp(kafka as never, options, work as never, { NOTIFY_IDENTITY_WAIT_MS: waitMs }, consumers as never);
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
    // The group reaches the end on the broker's second answer: after the wait saw it behind, whatever the timers do.
    let answers = 0;
    let catchesUp = true;
    const { kafka, calls } = broker({ target: 10, committed: () => (catchesUp && ++answers >= 2 ? 10 : 5) });
    const subject = catchUp(kafka);
    expect(await subject.waitFor(ago(1_000))).toBe('caught-up');
    expect(answers).toBeGreaterThanOrEqual(2);

    // (A broker's committed offsets never go back; the test's do, so it lets the shared read of them expire first.)
    catchesUp = false;
    await new Promise((resolve) => setTimeout(resolve, 150));
    const started = Date.now();
    expect(await subject.waitFor(new Date().toISOString())).toBe('behind');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    // One stall per QUIET_AFTER_TIMEOUT_MS, not one per event: the next answers at once, without the broker.
    const connects = calls.connect;
    const again = Date.now();
    expect(await subject.waitFor(new Date().toISOString())).toBe('behind');
    expect(Date.now() - again).toBeLessThan(250); // well under the stall above (300 ms): room for a pause of the machine
    expect(calls.connect).toBe(connects);
  });

  it("waits for a backlog as long as the identity consumer gets closer, past NOTIFY_IDENTITY_WAIT_MS; reads that consumer's own group", async () => {
    // 500 closer at each answer of the broker (polled every 100 ms): eleven answers, about a second, past the 300 ms.
    let answers = 0;
    const { kafka, calls } = broker({ target: 5_000, committed: () => Math.min(5_000, 500 * answers++) });
    const started = Date.now();
    expect(await catchUp(kafka, undefined, 300).waitFor(ago(1_000))).toBe('caught-up');
    expect(Date.now() - started).toBeGreaterThan(600);
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
    expect(calls.byTimestamp).toBe(2);
    expect(calls.connect).toBe(1); // one admin connection for every wait
  });

  it('throws UnavailableError (retried as an outage) while the identity consumer is not in its group, before and during a wait', async () => {
    const { kafka } = broker({ target: 10, committed: () => 5 });
    let identityRunning = false;
    const subject = catchUp(kafka, undefined, 10_000, { isConsuming: (topic) => topic === 'identity.events.v1' && identityRunning });
    const before = await subject.waitFor(ago(1_000)).catch((e: unknown) => e);
    expect(before).toBeInstanceOf(UnavailableError);
    expect(classifyFailure(before)).toBe('infrastructure');
    identityRunning = true;
    const waiting = subject.waitFor(ago(1_000));
    setTimeout(() => (identityRunning = false), 150); // crashed during the wait
    expect(await waiting.catch((e: unknown) => e)).toBeInstanceOf(UnavailableError);
  });

  it('throws UnavailableError (retried as an outage) when the broker cannot answer; says behind when it refuses for good', async () => {
    // A coordinator moving during a broker restart: KafkaJS's retriable answer, as its admin client gives it.
    const moving = Object.assign(new Error('This is not the correct coordinator for this group'), { name: 'KafkaJSProtocolError', retriable: true });
    const refused = Object.assign(new Error('Not authorized to access group'), { name: 'KafkaJSProtocolError', retriable: false });
    const failingWith = (error: Error) => {
      const { kafka } = broker({ target: 10, committed: () => 10 });
      const admin = kafka.admin() as unknown as { fetchOffsets: () => Promise<never>; fetchTopicOffsets: () => Promise<never> };
      admin.fetchOffsets = admin.fetchTopicOffsets = async () => Promise.reject(error);
      return catchUp(kafka).waitFor(ago(1_000)).catch((e: unknown) => e);
    };
    const unavailable = await failingWith(moving);
    expect(unavailable).toBeInstanceOf(UnavailableError);
    expect(classifyFailure(unavailable)).toBe('infrastructure');
    expect(await failingWith(refused)).toBe('behind');
  });

  it('gives the retries of an unreadable lag up after a minute (the broker answers the consumers, not these reads): behind, then quiet', async () => {
    const { kafka, calls } = broker({ target: 10, committed: () => 10 });
    const admin = kafka.admin() as unknown as { fetchOffsets: () => Promise<never>; fetchTopicOffsets: () => Promise<never> };
    admin.fetchOffsets = admin.fetchTopicOffsets = async () => Promise.reject(Object.assign(new Error('retries exceeded'), { name: 'KafkaJSNumberOfRetriesExceeded' }));
    const subject = catchUp(kafka);
    let now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => now);
    try {
      expect(await subject.waitFor(new Date(now - 1_000).toISOString()).catch((e: unknown) => e)).toBeInstanceOf(UnavailableError);
      now += 30_000;
      expect(await subject.waitFor(new Date(now - 1_000).toISOString()).catch((e: unknown) => e)).toBeInstanceOf(UnavailableError);
      now += 31_000;
      expect(await subject.waitFor(new Date(now - 1_000).toISOString())).toBe('behind');
      const connects = calls.connect;
      expect(await subject.waitFor(new Date(now - 1_000).toISOString())).toBe('behind'); // quiet: the broker not asked
      expect(calls.connect).toBe(connects);
    } finally {
      clock.mockRestore();
    }
  });

  it("gives a wait up with ShuttingDownError when the event's consumer stops or rebalances (stopping)", async () => {
    const { kafka } = broker({ target: 10, committed: () => 5 });
    let rebalancing = false;
    const started = Date.now();
    const waiting = catchUp(kafka, undefined, 10_000).waitFor(ago(1_000), () => rebalancing);
    setTimeout(() => (rebalancing = true), 150);
    expect(await waiting.catch((e: unknown) => e)).toBeInstanceOf(ShuttingDownError);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('lets concurrent waits share the reads of the committed offsets', async () => {
    let committed = 5;
    const { kafka, calls } = broker({ target: 10, committed: () => committed });
    const subject = catchUp(kafka, undefined, 10_000);
    const waits = Promise.all(Array.from({ length: 20 }, (_, i) => subject.waitFor(ago(1_000 + i))));
    setTimeout(() => (committed = 10), 450);
    expect(await waits).toEqual(Array.from({ length: 20 }, () => 'caught-up'));
    // About one read per 100 ms poll for all twenty (about 5 polls), not twenty per poll.
    expect(calls.fetchOffsets).toBeLessThan(20);
    expect(calls.connect).toBe(1);
  });

  it('counts a partition whose messages before the event are all gone (retention) as handled, with no commit there', async () => {
    const { kafka } = broker({ target: 10, low: 10, committed: () => -1 });
    expect(await catchUp(kafka, undefined, 10_000).waitFor(ago(1_000))).toBe('caught-up');
  });

  describe('first, the end offsets: usually nothing is pending', () => {
    it('answers concurrent waits with one reading of the end offsets, without offsets by timestamp, and remembers when it was asked', async () => {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const { kafka, calls } = broker({ target: 10, committed: () => 10, ends: () => held });
      const subject = catchUp(kafka, undefined, 10_000);
      const before = new Date().toISOString();
      const waits = Promise.all(Array.from({ length: 20 }, (_, i) => subject.waitFor(ago(1_000 + i))));
      await new Promise((resolve) => setTimeout(resolve, 50));
      release();
      expect(await waits).toEqual(Array.from({ length: 20 }, () => 'caught-up'));
      expect(calls).toMatchObject({ topicOffsets: 1, fetchOffsets: 1, byTimestamp: 0, connect: 1 });
      // Caught up to when the reading was asked, not only to the events' times: a later event asks nothing.
      expect(subject.covers(before)).toBe(true);
      expect(await subject.waitFor(before)).toBe('current');
      expect(calls.topicOffsets).toBe(1);
    });

    it('does not answer a wait for a time after the reading in progress was asked: it reads again', async () => {
      let release!: () => void;
      let held = new Promise<void>((resolve) => (release = resolve));
      const { kafka, calls } = broker({ target: 10, committed: () => 10, ends: () => held });
      const subject = catchUp(kafka, undefined, 10_000);
      const first = subject.waitFor(ago(1_000));
      await new Promise((resolve) => setTimeout(resolve, 30));
      const firstRelease = release;
      held = new Promise<void>((resolve) => (release = resolve));
      const second = subject.waitFor(new Date().toISOString()); // after the first reading was asked
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(calls.topicOffsets).toBe(2);
      firstRelease();
      release();
      expect([await first, await second]).toEqual(['caught-up', 'caught-up']);
      expect(calls.byTimestamp).toBe(0);
    });

    it('goes by offsets by timestamp when the group is behind the end offsets, and waits there as before', async () => {
      let committed = 5;
      const { kafka, calls } = broker({ target: 10, committed: () => committed });
      const subject = catchUp(kafka, undefined, 10_000);
      const waiting = subject.waitFor(ago(1_000));
      setTimeout(() => (committed = 10), 250);
      const started = Date.now();
      expect(await waiting).toBe('caught-up');
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
      expect(calls.byTimestamp).toBe(1);
    });

    it('is not known to cover a time it has not shown, nor any time before a first wait; always with the wait off', () => {
      const { kafka } = broker({ target: 10, committed: () => 10 });
      expect(catchUp(kafka).covers(ago(1_000))).toBe(false);
      expect(catchUp(kafka, undefined, 0).covers(ago(1_000))).toBe(true);
    });
  });
});
