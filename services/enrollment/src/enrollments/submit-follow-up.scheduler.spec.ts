import type { EnrollmentConfig } from '../config';
import { SubmitFollowUpScheduler } from './submit-follow-up.scheduler';
import type { FollowSubmitted, FollowUpRun } from './usecases/follow-submitted.use-case';

describe('SubmitFollowUpScheduler', () => {
  let scheduler: SubmitFollowUpScheduler | undefined;

  function start(every: number) {
    const execute = jest.fn<Promise<FollowUpRun>, []>().mockResolvedValue({ examined: 0, changed: 0, complete: true });
    scheduler = new SubmitFollowUpScheduler({ execute } as unknown as FollowSubmitted, { SUBMIT_FOLLOW_UP_INTERVAL_MS: every } as EnrollmentConfig);
    scheduler.onApplicationBootstrap();
    return execute;
  }

  beforeEach(() => jest.useFakeTimers());
  afterEach(() => {
    scheduler?.onModuleDestroy();
    jest.useRealTimers();
  });

  it('follows up at start (the instance replacing one killed mid-Submit), then every SUBMIT_FOLLOW_UP_INTERVAL_MS', async () => {
    const execute = start(3_600_000);
    expect(execute).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(3_600_000);
    expect(execute).toHaveBeenCalledTimes(2);
  });

  it('never follows up when the setting is 0, and stops at shutdown', async () => {
    expect(start(0)).not.toHaveBeenCalled();
    scheduler!.onModuleDestroy();
    const execute = start(1_000);
    await jest.advanceTimersByTimeAsync(0);
    scheduler!.onModuleDestroy();
    await jest.advanceTimersByTimeAsync(5_000);
    expect(execute).toHaveBeenCalledTimes(1);
  });
});
