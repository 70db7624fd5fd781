import { BackgroundWork } from '@lib/platform';
import { Logger } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { EnrollmentConfig } from '../config';
import { SubmitFollowUpScheduler } from './submit-follow-up.scheduler';
import type { FollowSubmitted, FollowUpRun } from './usecases/follow-submitted.use-case';

describe('SubmitFollowUpScheduler', () => {
  let scheduler: SubmitFollowUpScheduler | undefined;
  let registry: SchedulerRegistry;
  let work: BackgroundWork;

  beforeAll(() => Logger.overrideLogger(false));

  function start(every: number, execute = jest.fn<Promise<FollowUpRun>, []>().mockResolvedValue({ examined: 0, changed: 0, complete: true })) {
    registry = new SchedulerRegistry();
    work = new BackgroundWork();
    scheduler = new SubmitFollowUpScheduler(registry, { execute } as unknown as FollowSubmitted, work, { SUBMIT_FOLLOW_UP_INTERVAL_MS: every } as EnrollmentConfig);
    scheduler.onApplicationBootstrap();
    return execute;
  }

  beforeEach(() => jest.useFakeTimers());
  afterEach(() => {
    scheduler?.onModuleDestroy();
    jest.useRealTimers();
  });

  it('runs once at start (the instance replacing one killed mid-Submit), then every interval', async () => {
    const execute = start(3_600_000);
    expect(execute).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(3_599_000);
    expect(execute).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(execute).toHaveBeenCalledTimes(2);
  });

  it('runs at start only when the interval is 0', async () => {
    const execute = start(0);
    await jest.advanceTimersByTimeAsync(10_000_000);
    expect(execute).toHaveBeenCalledTimes(1);
    expect(registry.getIntervals()).toEqual([]);
  });

  it('does not start a run while one is going on, and runs again at the next tick after a failure', async () => {
    let finish!: () => void;
    const execute = jest
      .fn<Promise<FollowUpRun>, []>()
      .mockImplementationOnce(() => new Promise((resolve) => (finish = () => resolve({ examined: 1, changed: 0, complete: true }))))
      .mockRejectedValueOnce(new Error('connection reset'))
      .mockResolvedValue({ examined: 0, changed: 0, complete: true });
    start(1_000, execute);
    await jest.advanceTimersByTimeAsync(2_500); // two ticks while the first run goes on
    expect(execute).toHaveBeenCalledTimes(1);
    finish();
    await jest.advanceTimersByTimeAsync(500);
    expect(execute).toHaveBeenCalledTimes(2); // the failed one
    await jest.advanceTimersByTimeAsync(1_000);
    expect(execute).toHaveBeenCalledTimes(3);
  });

  it('starts nothing once shutdown has begun, and shutdown waits for the run going on', async () => {
    let finish!: () => void;
    const execute = jest
      .fn<Promise<FollowUpRun>, []>()
      .mockImplementationOnce(() => new Promise((resolve) => (finish = () => resolve({ examined: 1, changed: 0, complete: false }))));
    start(1_000, execute);
    let closed = false;
    const closing = work.beforeApplicationShutdown().then(() => (closed = true));
    scheduler!.onModuleDestroy();
    await jest.advanceTimersByTimeAsync(5_000);
    expect(closed).toBe(false);
    finish();
    await closing;
    expect(execute).toHaveBeenCalledTimes(1);
    await scheduler!.tick();
    expect(execute).toHaveBeenCalledTimes(1);
  });
});
