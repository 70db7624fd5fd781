import { CONFIG, PeriodicJob } from '@lib/platform';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { EnrollmentConfig } from '../config';
import { FollowSubmitted } from './usecases/follow-submitted.use-case';

/**
 * Runs FollowSubmitted at start and then every SUBMIT_FOLLOW_UP_INTERVAL_MS (0: never), never two at once in one
 * process (PeriodicJob). At start: a Submit killed before its follow-up dies with its process, and the instance that
 * replaces it applies what that Submit left; the schedule covers a follow-up that failed while the process lived on
 * (the database gone a moment). On several instances the runs repeat nothing (guarded writes, none when nothing
 * changes); one running at shutdown stops between pages and is waited for (BackgroundWork).
 */
@Injectable()
export class SubmitFollowUpScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  readonly job: PeriodicJob;

  constructor(
    followUp: FollowSubmitted,
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
  ) {
    this.job = new PeriodicJob('submit-follow-up', () => followUp.execute(), new Logger(SubmitFollowUpScheduler.name));
  }

  onApplicationBootstrap(): void {
    this.job.start(this.config.SUBMIT_FOLLOW_UP_INTERVAL_MS);
  }

  onModuleDestroy(): void {
    this.job.stop();
  }
}
