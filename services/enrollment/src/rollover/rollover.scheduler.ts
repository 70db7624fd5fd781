import { Trace } from '@lib/messaging';
import { BackgroundWork, CONFIG, ProblemException } from '@lib/platform';
import { HttpStatus, Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { Clock } from '../common/clock';
import type { EnrollmentConfig } from '../config';
import { scheduledWork } from './renewal-rules';
import { RollOverFiscalYear } from './usecases/roll-over-fiscal-year.use-case';
import { SendRenewalReminders } from './usecases/send-renewal-reminders.use-case';

const JOB = 'fiscal-year-rollover';

/**
 * The daily job (ROLLOVER_CRON, UTC): the rollover of the fiscal year that ended, then, in its last
 * RENEWAL_REMINDER_DAYS days, the renewal reminders of the current one. Both are idempotent, so a daily run (or
 * a run on several instances) repeats nothing. Runs never overlap in one process.
 */
@Injectable()
export class RolloverScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(RolloverScheduler.name);
  private running?: Promise<unknown>;

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
    const job = CronJob.from({ cronTime: this.config.ROLLOVER_CRON, timeZone: 'UTC', onTick: () => this.tick(), start: true });
    this.registry.addCronJob(JOB, job as never);
  }

  /** No new run once shutdown begins; a run in progress stops between batches and is waited for (BackgroundWork). */
  onModuleDestroy(): void {
    if (this.registry.doesExist('cron', JOB)) this.registry.deleteCronJob(JOB);
  }

  /**
   * One run of the daily work at the clock's "now" (also what a test calls), in a trace of its own: the events it
   * causes share its run id as correlation and causation id (Trace.fresh).
   */
  runOnce(): Promise<void> {
    return Trace.run(Trace.fresh(), async () => {
      const work = scheduledWork(this.clock.now(), this.config.RENEWAL_REMINDER_DAYS);
      const rollover = await this.rollOver.execute({ fromFiscalYear: work.rolloverFrom });
      // Shutting down: the reminders wait for the next run (as the rest of a rollover stopped halfway does).
      if (work.remindFor && rollover.complete && !this.work.stopRequested) await this.reminders.execute({ fiscalYear: work.remindFor });
    });
  }

  private tick(): void {
    if (this.running) return;
    this.running = this.runOnce()
      .catch((error) =>
        // 409: another instance holds the year's lease and does the day's work (RolloverLease).
        error instanceof ProblemException && error.getStatus() === HttpStatus.CONFLICT
          ? this.logger.log(`scheduled rollover skipped: ${(error.getResponse() as { detail?: string }).detail}`)
          : this.logger.warn(`scheduled rollover failed, the next run retries: ${(error as Error).message}`),
      )
      .finally(() => (this.running = undefined));
  }
}
