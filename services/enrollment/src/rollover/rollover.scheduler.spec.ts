import { Problems } from '@lib/platform';
import { Logger } from '@nestjs/common';
import { RolloverScheduler } from './rollover.scheduler';

/** The daily job's retries: a run that does not finish is run again after ROLLOVER_RETRY_MS, until one does. */
describe('RolloverScheduler.runScheduled', () => {
  const now = new Date('2027-07-01T00:30:00Z'); // FY27 just ended: roll it over; no reminders due
  let outcomes: Array<() => Promise<{ complete: boolean }>>;
  let runs: number;
  let work: { stopRequested: boolean };
  let scheduler: RolloverScheduler;

  beforeAll(() => Logger.overrideLogger(false));

  beforeEach(() => {
    jest.useFakeTimers();
    runs = 0;
    work = { stopRequested: false };
    const rollOver = { execute: () => (runs++, outcomes.shift()!()) };
    scheduler = new RolloverScheduler(
      { doesExist: () => false } as never,
      rollOver as never,
      { execute: async () => ({ complete: true }) } as never,
      { now: () => now } as never,
      work as never,
      { ROLLOVER_CRON: 'off', RENEWAL_REMINDER_DAYS: 30, ROLLOVER_RETRY_MS: 60_000 } as never,
    );
  });

  afterEach(() => {
    scheduler.onModuleDestroy();
    jest.useRealTimers();
  });

  /** Lets the run started now settle, then moves the clock by `ms`. */
  async function after(ms: number) {
    await jest.advanceTimersByTimeAsync(0);
    await jest.advanceTimersByTimeAsync(ms);
  }

  it('runs again after a 409 (another instance holds the year), a failure and an unfinished run, then stops once one finishes', async () => {
    outcomes = [
      async () => Promise.reject(Problems.busy('A rollover of FY27 is running already')),
      async () => Promise.reject(new Error('connection reset')),
      async () => ({ complete: false }),
      async () => ({ complete: true }),
    ];
    scheduler.runScheduled();
    await after(59_999);
    expect(runs).toBe(1);
    await after(1);
    expect(runs).toBe(2);
    await after(60_000);
    expect(runs).toBe(3);
    await after(60_000);
    expect(runs).toBe(4);
    await after(10 * 60_000);
    expect(runs).toBe(4);
  });

  it('does not run again once shutdown has begun', async () => {
    outcomes = [async () => ({ complete: false })];
    scheduler.runScheduled();
    work.stopRequested = true;
    await after(10 * 60_000);
    expect(runs).toBe(1);
  });
});
