import { CONFIG, PeriodicJob } from '@lib/platform';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { EnrollmentConfig } from '../config';
import { FollowExpiredTaxProfiles } from './usecases/follow-expired-tax-profiles.use-case';
import { FollowSubmitted } from './usecases/follow-submitted.use-case';

/**
 * What no event brings, run at start and then every FOLLOW_UP_INTERVAL_MS (0: never), never two at once in one
 * process (PeriodicJob):
 *  - FollowSubmitted: a Submit killed before its follow-up dies with its process, and the instance that replaces it
 *    applies what that Submit left; the schedule covers a follow-up that failed while the process lived on;
 *  - FollowExpiredTaxProfiles: the enrollments of the tax profiles whose expiry date came since the last run.
 * On several instances the runs repeat nothing (guarded writes, none when nothing changes); one running at shutdown
 * stops between pages and is waited for (BackgroundWork).
 */
@Injectable()
export class FollowUpScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  readonly job: PeriodicJob;

  constructor(
    submitted: FollowSubmitted,
    expired: FollowExpiredTaxProfiles,
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
  ) {
    this.job = new PeriodicJob(
      'follow-up',
      // One after the other, each whatever the other did (a failure of the first is reported once both ran).
      async () => {
        const [first, second] = [await settled(submitted.execute()), await settled(expired.execute())];
        if (first) throw first;
        if (second) throw second;
      },
      new Logger(FollowUpScheduler.name),
    );
  }

  onApplicationBootstrap(): void {
    this.job.start(this.config.FOLLOW_UP_INTERVAL_MS);
  }

  onModuleDestroy(): void {
    this.job.stop();
  }
}

/** The error a run ended with, or undefined when it succeeded. */
function settled(run: Promise<unknown>): Promise<unknown> {
  return run.then(
    () => undefined,
    (error: unknown) => error ?? new Error('failed'),
  );
}
