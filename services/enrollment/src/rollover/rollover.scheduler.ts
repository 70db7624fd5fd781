import { fiscalYearOver } from '@lib/contracts';
import { stackFrames, Trace } from '@lib/messaging';
import { BackgroundWork, Clock, CONFIG, ProblemException } from '@lib/platform';
import { HttpStatus, Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import type { EnrollmentConfig } from '../config';
import { scheduledWork } from './renewal-rules';
import { RollOverFiscalYear } from './usecases/roll-over-fiscal-year.use-case';
import { SendRenewalReminders } from './usecases/send-renewal-reminders.use-case';

const JOB = 'fiscal-year-rollover';

/**
 * After start, when the first scheduled run begins: the consumer has joined its group by then (the run still waits
 * for it to catch up, ConsumerCatchUp).
 */
export const STARTUP_RUN_DELAY_MS = 5_000;

/**
 * The daily job (ROLLOVER_CRON, UTC): the rollover of the fiscal year that ended, then, in its last
 * RENEWAL_REMINDER_DAYS days, the renewal reminders of the current one. Both are idempotent, so a daily run (or
 * a run on several instances) repeats nothing; the rollover of a year runs on one instance at a time (its lease),
 * and a run that does not finish is run again (runScheduled). Runs never overlap in one process.
 * It also runs once shortly after start (STARTUP_RUN_DELAY_MS): a retry timer dies with the process, so a deploy or a
 * crash during the daily run would otherwise leave the year half rolled over until the next day's tick. With nothing
 * left, that run reads an empty cursor and sends no reminder twice; another instance's run makes it wait (409, retried).
 */
@Injectable()
export class RolloverScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(RolloverScheduler.name);
  private running?: Promise<unknown>;
  private retry?: NodeJS.Timeout;
  private startup?: NodeJS.Timeout;

  constructor(
    private readonly registry: SchedulerRegistry,
    private readonly rollOver: RollOverFiscalYear,
    private readonly reminders: SendRenewalReminders,
    private readonly clock: Clock,
    private readonly work: BackgroundWork,
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.ROLLOVER_CRON === 'off') return;
    const job = CronJob.from({ cronTime: this.config.ROLLOVER_CRON, timeZone: 'UTC', onTick: () => this.runScheduled(), start: true });
    this.registry.addCronJob(JOB, job as never);
    this.startup = setTimeout(() => {
      this.startup = undefined;
      this.runScheduled();
    }, STARTUP_RUN_DELAY_MS);
    this.startup.unref?.();
  }

  /** No new run once shutdown begins; a run in progress stops between batches and is waited for (BackgroundWork). */
  onModuleDestroy(): void {
    if (this.registry.doesExist('cron', JOB)) this.registry.deleteCronJob(JOB);
    clearTimeout(this.retry);
    clearTimeout(this.startup);
  }

  /**
   * One run of the daily work at the clock's "now" (also what a test calls), in a trace of its own: the events it
   * causes share its run id as correlation and causation id (Trace.job). True when all of it is done.
   */
  runOnce(): Promise<boolean> {
    return Trace.job('fiscal-year-rollover', () => this.daily());
  }

  private async daily(): Promise<boolean> {
    const work = scheduledWork(this.clock.now(), this.config.RENEWAL_REMINDER_DAYS);
    const rollover = await this.rollOver.execute({ fromFiscalYear: work.rolloverFrom });
    // Shutting down: the reminders wait for the next run (as the rest of a rollover stopped halfway does).
    if (!done(rollover) || this.work.stopRequested) return false;
    // The rollover may have run past midnight on June 30 (a retry at 23:59): no reminder of a year that is over.
    const remindFor = work.remindFor && !fiscalYearOver(work.remindFor, this.clock.now()) ? work.remindFor : undefined;
    return remindFor ? done(await this.reminders.execute({ fiscalYear: remindFor })) : true;
  }

  /**
   * What the cron (and the run after start) calls. A run that fails, stops before the end, lost a write to a concurrent
   * change (`conflicts`), finds the year's lease held
   * by another instance (409: that one may die halfway) or the consumer not caught up (503: it decided or sent nothing) is run
   * again after ROLLOVER_RETRY_MS, until one finishes. A retry timer dies with the process: the run after start takes
   * over. A run after another instance finished finds nothing left to do.
   */
  runScheduled(): void {
    if (this.running || this.work.stopRequested) return;
    // What it says of the run (failed, retried) is said in the run's trace, as the run's own lines.
    this.running = Trace.job('fiscal-year-rollover', () =>
      this.daily().then(
        (done) => {
          if (!done) this.retryLater('it stopped before the end');
        },
        (error: unknown) => {
          // 409: another instance holds the year's lease and does the day's work (RolloverLease).
          // 503: the consumer is behind; the run decided nothing (RollOverFiscalYear), or sent no reminder (SendRenewalReminders).
          const busy = error instanceof ProblemException && error.getStatus() === HttpStatus.CONFLICT;
          if (error instanceof ProblemException) {
            const why = (error.getResponse() as { detail?: string }).detail ?? error.message;
            this.retryLater(busy ? why : `it failed: ${why}`, busy);
          } else {
            // A bug, not a refusal: where it happened too.
            const at = stackFrames(error);
            this.retryLater(`it failed: ${(error as Error).message}${at && ` (${at})`}`);
          }
          throw error; // the run's span fails with it
        },
      ),
    )
      .catch(() => undefined)
      .finally(() => (this.running = undefined));
  }

  private retryLater(why: string, busy = false): void {
    if (this.work.stopRequested) return;
    const message = `scheduled rollover: ${why}; running it again in ${this.config.ROLLOVER_RETRY_MS} ms`;
    if (busy) this.logger.log(message);
    else this.logger.warn(message);
    clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.runScheduled();
    }, this.config.ROLLOVER_RETRY_MS);
    this.retry.unref?.();
  }
}

/**
 * A run is done when it went to the end and no write of it lost to a concurrent change (`conflicts`: an enrollment
 * changed between its read and its guarded write, left for a later run). Those are retried after ROLLOVER_RETRY_MS, not
 * left to the next day: on the last reminder day (June 30) there is no next day for a reminder.
 */
function done(run: { complete: boolean; conflicts?: number }): boolean {
  return run.complete && !run.conflicts;
}
