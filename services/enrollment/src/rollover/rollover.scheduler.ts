import { Trace } from '@lib/messaging';
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
 * The daily job (ROLLOVER_CRON, UTC): the rollover of the fiscal year that ended, then, in its last
 * RENEWAL_REMINDER_DAYS days, the renewal reminders of the current one. Both are idempotent, so a daily run (or
 * a run on several instances) repeats nothing; the rollover of a year runs on one instance at a time (its lease),
 * and a run that does not finish is run again (runScheduled). Runs never overlap in one process.
 */
@Injectable()
export class RolloverScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(RolloverScheduler.name);
  private running?: Promise<unknown>;
  private retry?: NodeJS.Timeout;

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
  }

  /** No new run once shutdown begins; a run in progress stops between batches and is waited for (BackgroundWork). */
  onModuleDestroy(): void {
    if (this.registry.doesExist('cron', JOB)) this.registry.deleteCronJob(JOB);
    clearTimeout(this.retry);
  }

  /**
   * One run of the daily work at the clock's "now" (also what a test calls), in a trace of its own: the events it
   * causes share its run id as correlation and causation id (Trace.fresh). True when all of it is done.
   */
  runOnce(): Promise<boolean> {
    return Trace.run(Trace.fresh(), async () => {
      const work = scheduledWork(this.clock.now(), this.config.RENEWAL_REMINDER_DAYS);
      const rollover = await this.rollOver.execute({ fromFiscalYear: work.rolloverFrom });
      // Shutting down: the reminders wait for the next run (as the rest of a rollover stopped halfway does).
      if (!rollover.complete || this.work.stopRequested) return false;
      return work.remindFor ? (await this.reminders.execute({ fiscalYear: work.remindFor })).complete : true;
    });
  }

  /**
   * What the cron calls. A run that fails, stops before the end, or finds the year's lease held by another instance
   * (409: that one may die halfway) is run again after ROLLOVER_RETRY_MS, until one finishes: otherwise a deploy or
   * a crash during the daily run would leave the year half rolled over until the next day. A run after another
   * instance finished finds nothing left to do.
   */
  runScheduled(): void {
    if (this.running || this.work.stopRequested) return;
    this.running = this.runOnce()
      .then((done) => {
        if (!done) this.retryLater('it stopped before the end');
      })
      .catch((error) => {
        // 409: another instance holds the year's lease and does the day's work (RolloverLease).
        const busy = error instanceof ProblemException && error.getStatus() === HttpStatus.CONFLICT;
        this.retryLater(busy ? `${(error.getResponse() as { detail?: string }).detail}` : `it failed: ${(error as Error).message}`, busy);
      })
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
