import { Trace } from '@lib/messaging';
import { ProblemException, Problems } from '@lib/platform';
import { HttpStatus, Logger } from '@nestjs/common';
import { RolloverScheduler, STARTUP_RUN_DELAY_MS } from './rollover.scheduler';

/** The daily job's retries: a run that does not finish is run again after ROLLOVER_RETRY_MS, until one does. */
describe('RolloverScheduler.runScheduled', () => {
  const now = new Date('2027-07-01T00:30:00Z'); // FY27 just ended: roll it over; no reminders due
  let outcomes: Array<() => Promise<{ complete: boolean; conflicts?: number }>>;
  let reminderOutcomes: Array<{ complete: boolean; conflicts?: number }>;
  let reminderRuns: number;
  let clockNow: Date;
  let runs: number;
  let work: { stopRequested: boolean };
  let scheduler: RolloverScheduler;

  beforeAll(() => Logger.overrideLogger(false));

  beforeEach(() => {
    jest.useFakeTimers();
    runs = 0;
    reminderRuns = 0;
    reminderOutcomes = [];
    clockNow = now;
    work = { stopRequested: false };
    const rollOver = { execute: () => (runs++, outcomes.shift()!()) };
    scheduler = new RolloverScheduler(
      { doesExist: () => false } as never,
      rollOver as never,
      { execute: async () => (reminderRuns++, reminderOutcomes.shift() ?? { complete: true }) } as never,
      { now: () => clockNow } as never,
      work as never,
      { ROLLOVER_CRON: 'off', RENEWAL_REMINDER_DAYS: 30, ROLLOVER_RETRY_MS: 60_000 } as never,
    );
  });

  afterEach(() => {
    scheduler.onModuleDestroy();
    jest.useRealTimers();
  });

  // June 30: the last day reminders are due. One that lost its write to a concurrent change has no next day.
  it('runs again when a write lost to a concurrent change (conflicts), the reminders on their last day too', async () => {
    clockNow = new Date('2027-06-30T00:30:00Z');
    outcomes = [async () => ({ complete: true, conflicts: 1 }), async () => ({ complete: true }), async () => ({ complete: true })];
    reminderOutcomes = [{ complete: true, conflicts: 1 }, { complete: true }];
    scheduler.runScheduled();
    await after(0);
    expect({ runs, reminderRuns }).toEqual({ runs: 1, reminderRuns: 0 }); // the rollover's conflict: no reminders yet
    await after(60_000);
    expect({ runs, reminderRuns }).toEqual({ runs: 2, reminderRuns: 1 });
    await after(60_000);
    expect({ runs, reminderRuns }).toEqual({ runs: 3, reminderRuns: 2 });
    await after(10 * 60_000);
    expect({ runs, reminderRuns }).toEqual({ runs: 3, reminderRuns: 2 });
  });

  // A run planned on June 30 whose rollover took it past midnight: FY27's reminders would warn of an end that came.
  it('sends no reminders of a year that ended while the rollover ran', async () => {
    clockNow = new Date('2027-06-30T23:59:50Z');
    outcomes = [
      async () => {
        clockNow = new Date('2027-07-01T00:00:05Z');
        return { complete: true };
      },
    ];
    scheduler.runScheduled();
    await after(0);
    expect({ runs, reminderRuns }).toEqual({ runs: 1, reminderRuns: 0 });
    await after(10 * 60_000);
    expect({ runs, reminderRuns }).toEqual({ runs: 1, reminderRuns: 0 });
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

  it("says a failure in the run's trace (its correlation id, as the run's own lines), with where a bug happened", async () => {
    let runIn: string | undefined;
    outcomes = [
      async () => {
        runIn = Trace.current()?.correlationId;
        throw new TypeError("Cannot read properties of undefined (reading 'fiscalYear')");
      },
    ];
    const said: Array<{ message: string; in?: string }> = [];
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => void said.push({ message: String(message), in: Trace.current()?.correlationId }));
    try {
      scheduler.runScheduled();
      await after(0);
      expect(runIn).toEqual(expect.any(String));
      expect(said).toEqual([{ message: expect.stringMatching(/^scheduled rollover: it failed: Cannot read properties .* \(.*rollover\.scheduler\.spec\.ts:\d+/), in: runIn }]);
    } finally {
      warn.mockRestore();
    }
  });

  it('does not run again once shutdown has begun', async () => {
    outcomes = [async () => ({ complete: false })];
    scheduler.runScheduled();
    work.stopRequested = true;
    await after(10 * 60_000);
    expect(runs).toBe(1);
  });

  it('runs again after a 503 (the consumer had not caught up: nothing decided)', async () => {
    outcomes = [
      async () => Promise.reject(new ProblemException(HttpStatus.SERVICE_UNAVAILABLE, 'consumer-behind', 'Not caught up with its inputs', 'not caught up')),
      async () => ({ complete: true }),
    ];
    scheduler.runScheduled();
    await after(59_999);
    expect(runs).toBe(1);
    await after(1);
    expect(runs).toBe(2);
  });
});

/**
 * The run after start: a retry timer dies with the process, so a deploy or a crash during the daily run must not
 * leave the year half rolled over until the next day's tick.
 */
describe('RolloverScheduler after start', () => {
  const now = new Date('2027-07-01T00:30:00Z');
  let runs: Array<{ fromFiscalYear: string }>;
  let outcomes: Array<() => Promise<{ complete: boolean }>>;
  let jobs: Array<{ stop(): void }>;
  let scheduler: RolloverScheduler;

  beforeAll(() => Logger.overrideLogger(false));

  function make(cron: string) {
    return new RolloverScheduler(
      {
        addCronJob: (_name: string, job: { stop(): void }) => jobs.push(job),
        doesExist: () => jobs.length > 0,
        deleteCronJob: () => jobs.forEach((job) => job.stop()),
      } as never,
      { execute: (command: { fromFiscalYear: string }) => (runs.push(command), (outcomes.shift() ?? (async () => ({ complete: true })))()) } as never,
      { execute: async () => ({ complete: true }) } as never,
      { now: () => now } as never,
      { stopRequested: false } as never,
      { ROLLOVER_CRON: cron, RENEWAL_REMINDER_DAYS: 30, ROLLOVER_RETRY_MS: 60_000 } as never,
    );
  }

  beforeEach(() => {
    jest.useFakeTimers({ now: new Date('2027-07-01T09:00:00Z') });
    runs = [];
    outcomes = [];
    jobs = [];
  });

  afterEach(() => {
    scheduler.onModuleDestroy();
    jest.useRealTimers();
  });

  it('runs the scheduled work once shortly after bootstrap (the rollover of the year that ended), and again later if it did not finish', async () => {
    scheduler = make('0 0 0 1 1 *'); // the next tick is months away
    outcomes = [async () => Promise.reject(Problems.busy('A rollover of FY27 is running already')), async () => ({ complete: true })];
    scheduler.onApplicationBootstrap();
    expect(jobs).toHaveLength(1);
    expect(runs).toEqual([]);
    await jest.advanceTimersByTimeAsync(STARTUP_RUN_DELAY_MS);
    expect(runs).toEqual([{ fromFiscalYear: 'FY27' }]);
    // Another instance held the year: run again after ROLLOVER_RETRY_MS, then nothing more until the cron's tick.
    await jest.advanceTimersByTimeAsync(60_000);
    expect(runs).toHaveLength(2);
    await jest.advanceTimersByTimeAsync(60 * 60_000);
    expect(runs).toHaveLength(2);
  });

  it('runs nothing after start when the schedule is off, nor once shutdown began before the delay', async () => {
    scheduler = make('off');
    scheduler.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(10 * STARTUP_RUN_DELAY_MS);
    expect(runs).toEqual([]);

    scheduler = make('0 0 0 1 1 *');
    scheduler.onApplicationBootstrap();
    scheduler.onModuleDestroy();
    await jest.advanceTimersByTimeAsync(10 * STARTUP_RUN_DELAY_MS);
    expect(runs).toEqual([]);
  });
});
