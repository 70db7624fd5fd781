import { Logger } from '@nestjs/common';
import type { EnrollmentConfig } from '../config';
import { FollowUpScheduler } from './follow-up.scheduler';
import type { FollowExpiredTaxProfiles } from './usecases/follow-expired-tax-profiles.use-case';
import type { FollowSubmitted } from './usecases/follow-submitted.use-case';

describe('FollowUpScheduler', () => {
  let scheduler: FollowUpScheduler | undefined;

  /** The job marks' collection: every run claimed, unless `claimed` says another instance took the interval. */
  function marks(claimed: (filter: Record<string, unknown>) => boolean = () => true) {
    const updateOne = jest.fn(async (filter: Record<string, unknown>) => {
      if (!claimed(filter)) throw Object.assign(new Error('E11000 duplicate key error'), { code: 11000 });
      return { matchedCount: 1 };
    });
    return { collection: { updateOne } };
  }

  function start(every: number, failing = false, jobMarks = marks()) {
    const runs: string[] = [];
    const submitted = {
      execute: jest.fn(async () => {
        runs.push('submitted');
        if (failing) throw new Error('connection reset');
        return { examined: 0, changed: 0, complete: true };
      }),
    };
    const expired = { execute: jest.fn(async () => (runs.push('expired'), { expired: 0, changed: 0, complete: true })) };
    scheduler = new FollowUpScheduler(
      submitted as unknown as FollowSubmitted,
      expired as unknown as FollowExpiredTaxProfiles,
      { FOLLOW_UP_INTERVAL_MS: every } as EnrollmentConfig,
      jobMarks as never,
    );
    scheduler.onApplicationBootstrap();
    return runs;
  }

  beforeEach(() => jest.useFakeTimers());
  afterEach(() => {
    scheduler?.onModuleDestroy();
    jest.useRealTimers();
  });

  it('follows up at start (the instance replacing one killed mid-Submit), then every FOLLOW_UP_INTERVAL_MS: submitted enrollments, then expired tax profiles', async () => {
    const runs = start(3_600_000);
    await jest.advanceTimersByTimeAsync(0);
    expect(runs).toEqual(['submitted', 'expired']);
    await jest.advanceTimersByTimeAsync(3_600_000);
    expect(runs).toEqual(['submitted', 'expired', 'submitted', 'expired']);
  });

  it('skips a scheduled run whose interval another instance took (claimRun), never the run at start', async () => {
    // Another instance started one within the interval: every claim not forced finds it (a duplicate key).
    const jobMarks = marks((filter) => !('upTo' in filter));
    const runs = start(3_600_000, false, jobMarks);
    await jest.advanceTimersByTimeAsync(0);
    expect(runs).toEqual(['submitted', 'expired']);
    await jest.advanceTimersByTimeAsync(3 * 3_600_000);
    expect(runs).toEqual(['submitted', 'expired']);
    expect(jobMarks.collection.updateOne).toHaveBeenCalledTimes(4);
  });

  it('gives the interval back when a run fails, so that the next instance whose timer fires runs it', async () => {
    const jobMarks = marks();
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      start(3_600_000, true, jobMarks);
      await jest.advanceTimersByTimeAsync(0);
    } finally {
      warn.mockRestore();
    }
    const [claimed, released] = jobMarks.collection.updateOne.mock.calls as unknown as Array<[Record<string, unknown>, Record<string, unknown>]>;
    expect(claimed[0]).toEqual({ _id: 'follow-up:last-run' });
    const startedAt = (claimed[1] as { $max: { upTo: Date } }).$max.upTo;
    expect(released).toEqual([{ _id: 'follow-up:last-run', upTo: startedAt }, { $set: { upTo: new Date(0) } }]);
  });

  it('gives back, before its retry, the interval a failed run could not (the database down then): the retry claims it and runs', async () => {
    // The marks as the database keeps them: the last run's start, claimed only once the interval is over or given back.
    let upTo = new Date(0);
    let releaseRefused = 1;
    const updateOne = jest.fn(async (filter: { upTo?: Date | { $lte: Date } }, update: { $max?: { upTo: Date }; $set?: { upTo: Date } }) => {
      if (filter.upTo instanceof Date) {
        if (releaseRefused-- > 0) throw Object.assign(new Error('not primary'), { name: 'MongoServerError', code: 10107 });
        if (+filter.upTo === +upTo) upTo = update.$set!.upTo;
      } else if (filter.upTo) {
        if (upTo > filter.upTo.$lte) throw Object.assign(new Error('E11000 duplicate key error'), { code: 11000 });
        upTo = update.$set!.upTo;
      } else {
        upTo = update.$max!.upTo > upTo ? update.$max!.upTo : upTo;
      }
      return { matchedCount: 1 };
    });
    const runs: string[] = [];
    let failures = 1;
    const submitted = { execute: jest.fn(async () => (runs.push('submitted'), failures-- > 0 ? Promise.reject(new Error('not primary')) : { complete: true })) };
    const expired = { execute: jest.fn(async () => (runs.push('expired'), { complete: true })) };
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      scheduler = new FollowUpScheduler(submitted as never, expired as never, { FOLLOW_UP_INTERVAL_MS: 3_600_000 } as EnrollmentConfig, { collection: { updateOne } } as never);
      scheduler.onApplicationBootstrap();
      await jest.advanceTimersByTimeAsync(0);
      expect(runs).toEqual(['submitted', 'expired']);
      await jest.advanceTimersByTimeAsync(30_000);
      expect(runs).toEqual(['submitted', 'expired', 'submitted', 'expired']);
    } finally {
      warn.mockRestore();
    }
  });

  it('follows expired tax profiles up also when the submitted ones failed, and reports the failure', async () => {
    const warnings: string[] = [];
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => void warnings.push(String(message)));
    try {
      const runs = start(3_600_000, true);
      await jest.advanceTimersByTimeAsync(0);
      expect(runs).toEqual(['submitted', 'expired']);
      // The error's message, then where it was thrown (its first stack frames).
      expect(warnings).toEqual([expect.stringMatching(/^follow-up failed, retried in 30 s: connection reset \(at .*follow-up\.scheduler\.spec\.ts:\d+:\d+\)/)]);
    } finally {
      warn.mockRestore();
    }
  });

  it('never follows up when the setting is 0, and stops at shutdown', async () => {
    const off = start(0);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(off).toEqual([]);
    scheduler!.onModuleDestroy();
    const runs = start(1_000);
    await jest.advanceTimersByTimeAsync(0);
    scheduler!.onModuleDestroy();
    await jest.advanceTimersByTimeAsync(5_000);
    expect(runs).toEqual(['submitted', 'expired']);
  });
});
