import { Trace } from '@lib/messaging';
import { Logger } from '@nestjs/common';
import { FIRST_RETRY_MS, PeriodicJob, STOP_WAIT_MS } from './periodic-job';

describe('PeriodicJob', () => {
  let job: PeriodicJob | undefined;
  const warnings: string[] = [];
  /** The correlation id each warning was logged under (the log lines carry it). */
  const warnedIn: Array<string | undefined> = [];
  const logger = { warn: (message: string) => (warnings.push(message), warnedIn.push(Trace.current()?.correlationId)) } as unknown as Logger;

  function start(every: number, run = jest.fn<Promise<unknown>, []>().mockResolvedValue(undefined)) {
    job = new PeriodicJob('a-job', run, logger);
    job.start(every);
    return run;
  }

  beforeEach(() => {
    jest.useFakeTimers();
    warnings.length = 0;
    warnedIn.length = 0;
  });
  afterEach(() => {
    job?.stop();
    jest.useRealTimers();
  });

  it('runs once at start, then every interval', async () => {
    const run = start(3_600_000);
    expect(run).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(3_599_000);
    expect(run).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(run).toHaveBeenCalledTimes(2);
  });

  it('with atStart false, first runs after one interval (its caller ran it)', async () => {
    const run = jest.fn<Promise<unknown>, []>().mockResolvedValue(undefined);
    job = new PeriodicJob('a-job', run, logger);
    job.start(1_000, { atStart: false });
    expect(run).not.toHaveBeenCalled();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(run).toHaveBeenCalledTimes(1);
  });

  it('never runs when the interval is 0', async () => {
    const run = start(0);
    await jest.advanceTimersByTimeAsync(10_000_000);
    expect(run).not.toHaveBeenCalled();
  });

  it('starts no run while one is going on, and runs again at the next tick after a failure (logged)', async () => {
    let finish!: () => void;
    const run = jest
      .fn<Promise<unknown>, []>()
      .mockImplementationOnce(() => new Promise<void>((resolve) => (finish = resolve)))
      .mockRejectedValueOnce(new Error('connection reset'))
      .mockResolvedValue(undefined);
    start(1_000, run);
    await jest.advanceTimersByTimeAsync(2_500); // two ticks while the first run goes on
    expect(run).toHaveBeenCalledTimes(1);
    finish();
    await jest.advanceTimersByTimeAsync(500);
    expect(run).toHaveBeenCalledTimes(2);
    // The error's message, then where it was thrown (its first stack frames).
    expect(warnings).toEqual([expect.stringMatching(/^a-job failed, the next run retries: connection reset \(at .*periodic-job\.spec\.ts:\d+:\d+\)/)]);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(run).toHaveBeenCalledTimes(3);
  });

  it('runs a failed run again after 30 s, then twice as long after each failure, never later than the next tick; from 30 s again once one passes', async () => {
    const failing = () => Promise.reject(new Error('not primary'));
    const run = jest
      .fn<Promise<unknown>, []>()
      .mockImplementationOnce(failing)
      .mockImplementationOnce(failing)
      .mockImplementationOnce(failing)
      .mockResolvedValueOnce(undefined)
      .mockImplementationOnce(failing)
      .mockResolvedValue(undefined);
    start(3_600_000, run);
    await jest.advanceTimersByTimeAsync(0);
    const at = async (ms: number) => {
      await jest.advanceTimersByTimeAsync(ms - 1);
      const before = run.mock.calls.length;
      await jest.advanceTimersByTimeAsync(1);
      expect(run.mock.calls.length).toBe(before + 1);
    };
    await at(FIRST_RETRY_MS);
    await at(2 * FIRST_RETRY_MS);
    await at(4 * FIRST_RETRY_MS); // passes
    expect(warnings.map((w) => w.match(/retried in (\d+) s/)?.[1])).toEqual(['30', '60', '120']);
    // Nothing more until the hour's tick, which fails: 30 s again.
    await jest.advanceTimersByTimeAsync(3_600_000 - 7 * FIRST_RETRY_MS - 1);
    expect(run).toHaveBeenCalledTimes(4);
    await jest.advanceTimersByTimeAsync(1);
    expect(run).toHaveBeenCalledTimes(5);
    await at(FIRST_RETRY_MS);
    expect(run).toHaveBeenCalledTimes(6);
    expect(warnings).toHaveLength(4);
  });

  it('says the next run retries a run of its caller before it started ticking (no retry of its own then)', async () => {
    const run = jest.fn<Promise<unknown>, []>().mockRejectedValueOnce(new Error('not primary')).mockResolvedValue(undefined);
    job = new PeriodicJob('a-job', run, logger);
    await job.tick();
    expect(warnings).toEqual([expect.stringMatching(/^a-job failed, the next run retries: not primary/)]);
    job.start(3_600_000, { atStart: false });
    await jest.advanceTimersByTimeAsync(FIRST_RETRY_MS * 4);
    expect(run).toHaveBeenCalledTimes(1);
  });

  it('starts nothing once stopped', async () => {
    const run = start(1_000);
    await jest.advanceTimersByTimeAsync(0);
    job!.stop();
    await jest.advanceTimersByTimeAsync(5_000);
    await job!.tick();
    expect(run).toHaveBeenCalledTimes(1);
  });

  it("says a run failed in that run's trace: the correlation id of the lines the run logged itself", async () => {
    let runIn: string | undefined;
    const run = jest.fn<Promise<unknown>, []>().mockImplementation(async () => {
      runIn = Trace.current()?.correlationId;
      throw new Error('database gone');
    });
    start(1_000, run);
    await jest.advanceTimersByTimeAsync(0);
    expect(warnings).toEqual([expect.stringMatching(/^a-job failed, the next run retries: database gone/)]);
    expect(runIn).toEqual(expect.any(String));
    expect(warnedIn).toEqual([runIn]);
  });

  it('stop waits for the run going on (what it still writes lands before the database closes), at most STOP_WAIT_MS', async () => {
    let finish!: () => void;
    start(1_000, jest.fn<Promise<unknown>, []>().mockImplementationOnce(() => new Promise<void>((resolve) => (finish = resolve))));
    let stopped = false;
    const stopping = job!.stop().then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(STOP_WAIT_MS - 1_000);
    expect(stopped).toBe(false);
    finish();
    await stopping;
    expect(stopped).toBe(true);
    // A run that never ends holds it no longer than STOP_WAIT_MS.
    start(1_000, jest.fn<Promise<unknown>, []>().mockImplementationOnce(() => new Promise<void>(() => undefined)));
    let given = false;
    const giving = job!.stop().then(() => (given = true));
    await jest.advanceTimersByTimeAsync(STOP_WAIT_MS - 1);
    expect(given).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    await giving;
    expect(given).toBe(true);
  });
});
