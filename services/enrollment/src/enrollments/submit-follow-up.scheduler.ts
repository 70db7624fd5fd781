import { Trace } from '@lib/messaging';
import { BackgroundWork, CONFIG } from '@lib/platform';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { EnrollmentConfig } from '../config';
import { FollowSubmitted } from './usecases/follow-submitted.use-case';

const JOB = 'submit-follow-up';

/**
 * Runs FollowSubmitted at start and then every SUBMIT_FOLLOW_UP_INTERVAL_MS (0: at start only). At start: a Submit
 * killed before its follow-up dies with its process, so the instance that replaces it applies what that Submit left;
 * the schedule covers a follow-up that failed while the process lived on (the database gone a moment). Runs never
 * overlap in one process; on several instances they repeat nothing (guarded writes, no write when nothing changes).
 */
@Injectable()
export class SubmitFollowUpScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(SubmitFollowUpScheduler.name);
  private running?: Promise<unknown>;

  constructor(
    private readonly registry: SchedulerRegistry,
    private readonly followUp: FollowSubmitted,
    private readonly work: BackgroundWork,
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
  ) {}

  onApplicationBootstrap(): void {
    const every = this.config.SUBMIT_FOLLOW_UP_INTERVAL_MS;
    if (every > 0) {
      const timer = setInterval(() => this.tick(), every);
      timer.unref();
      this.registry.addInterval(JOB, timer);
    }
    this.tick();
  }

  /** No new run once shutdown begins; a run in progress stops between pages and is waited for (BackgroundWork). */
  onModuleDestroy(): void {
    if (this.registry.doesExist('interval', JOB)) this.registry.deleteInterval(JOB);
  }

  /** One run (also what a test calls); resolves when it is over, failed or not. */
  tick(): Promise<unknown> {
    if (this.running || this.work.stopRequested) return this.running ?? Promise.resolve();
    // A trace of its own: the events of one run share its run id as correlation and causation id.
    this.running = Trace.job(JOB, () => this.work.run(JOB, () => this.followUp.execute(), { complete: (run) => run.complete }))
      .catch((error) => this.logger.warn(`submit follow-up failed, the next run retries: ${(error as Error).message}`))
      .finally(() => (this.running = undefined));
    return this.running;
  }
}
