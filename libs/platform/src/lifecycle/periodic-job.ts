import { stackFrames, Trace } from '@lib/messaging';
import { Logger } from '@nestjs/common';

/**
 * How long stop() waits for the run going on: its last short writes (a lease given back, a delete). Short, as the hooks
 * of several modules wait one after the other within SHUTDOWN_TIMEOUT_MS; a run through BackgroundWork stops at its next
 * batch by itself and is waited for there.
 */
export const STOP_WAIT_MS = 3_000;

/**
 * Work a service runs at start and then every interval (the tax expiry scan, the submit follow-up): at start too, since
 * an instance restarted (deployed, rescheduled, killed) more often than the interval would otherwise never run it. Runs
 * never overlap in one process (a tick while one goes on starts nothing); each runs in a trace of its own
 * (Trace.job: the events of one run share its run id as correlation and causation id). A run that fails is logged
 * and run again after FIRST_RETRY_MS, then twice as long after each failure, never later than the next tick: a
 * database failing over for seconds does not put an hourly scan an hour late. `stop` (at shutdown) starts nothing more
 * and waits for the run going on.
 */
export class PeriodicJob {
  private timer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;
  private everyMs = 0;
  private retryMs = FIRST_RETRY_MS;

  constructor(
    private readonly name: string,
    private readonly run: () => Promise<unknown>,
    private readonly logger: Logger,
  ) {}

  /** At start (unless `atStart: false`: the caller ran it), then every `everyMs`; 0 turns it off (not even at start). */
  start(everyMs: number, { atStart = true }: { atStart?: boolean } = {}): void {
    if (everyMs <= 0) return;
    this.everyMs = everyMs;
    this.timer = setInterval(() => void this.tick(), everyMs);
    this.timer.unref();
    if (atStart) void this.tick();
  }

  /**
   * Starts nothing more, and resolves once the run going on is over (for at most STOP_WAIT_MS): what it still writes
   * (a lease given back, a sweep's last delete) lands before the database closes, and not after, failing.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    if (!this.running) return;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)));
    await Promise.race([this.running, waited]).finally(() => clearTimeout(timer));
  }

  /** One run, unless one is going on (then that one) or the job is stopped; resolves when it is over, failed or not. */
  tick(): Promise<unknown> {
    if (this.stopped) return Promise.resolve();
    // Said in the run's trace (its correlation id, as its own lines), then given to the job's span as its failure.
    const run = () =>
      this.run().then(
        (result) => {
          this.retryMs = FIRST_RETRY_MS;
          return result;
        },
        (error: unknown) => {
          const at = stackFrames(error);
          const retryMs = this.retryAfterFailure();
          const when = retryMs === undefined ? 'the next run retries' : `retried in ${Math.round(retryMs / 1000)} s`;
          this.logger.warn(`${this.name} failed, ${when}: ${(error as Error).message}${at && ` (${at})`}`);
          throw error;
        },
      );
    // A retry waiting is this run (or the one going on).
    clearTimeout(this.retryTimer);
    this.running ??= Trace.job(this.name, run)
      .catch(() => undefined)
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * Schedules the run again after a failure, unless the next tick comes first (or there are no ticks: not started yet,
   * its caller's own run): returns in how long, or undefined when the next tick is the retry.
   */
  private retryAfterFailure(): number | undefined {
    const retryMs = this.retryMs;
    if (this.stopped || this.everyMs <= 0 || retryMs >= this.everyMs) return undefined;
    this.retryMs *= 2;
    this.retryTimer = setTimeout(() => void this.tick(), retryMs);
    this.retryTimer.unref();
    return retryMs;
  }
}

/** How long after a failed run it is run again first (then twice as long after each failure, at most the interval). */
export const FIRST_RETRY_MS = 30_000;
