import { isDuplicateKey } from '@lib/messaging';
import { CONFIG, PeriodicJob } from '@lib/platform';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Collection } from 'mongodb';
import { Model } from 'mongoose';
import type { EnrollmentConfig } from '../config';
import { JobMark } from './job-mark.schema';
import { FollowExpiredTaxProfiles } from './usecases/follow-expired-tax-profiles.use-case';
import { FollowSubmitted } from './usecases/follow-submitted.use-case';

/**
 * What no event brings, run at start and then every FOLLOW_UP_INTERVAL_MS (0: never), never two at once in one
 * process (PeriodicJob):
 *  - FollowSubmitted: a Submit killed before its follow-up dies with its process, and the instance that replaces it
 *    applies what that Submit left; the schedule covers a follow-up that failed while the process lived on;
 *  - FollowExpiredTaxProfiles: the enrollments of the tax profiles whose expiry date came since the last run.
 * On several instances the runs repeat nothing (guarded writes, none when nothing changes), and the scheduled ones
 * run once an interval in the whole deployment, not once per instance (`claimRun`: the first instance whose timer
 * fires takes the interval, the others skip theirs); the run at start always runs (what it is there for is the
 * instance it replaces). One running at shutdown stops between pages and is waited for (BackgroundWork).
 */
@Injectable()
export class FollowUpScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  readonly job: PeriodicJob;
  private atStart = true;

  constructor(
    submitted: FollowSubmitted,
    expired: FollowExpiredTaxProfiles,
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
    @InjectModel(JobMark.name) marks: Model<JobMark>,
  ) {
    this.job = new PeriodicJob(
      'follow-up',
      // One after the other, each whatever the other did (a failure of the first is reported once both ran).
      async () => {
        const first = this.atStart;
        this.atStart = false;
        if (!(await claimRun(marks.collection as unknown as Collection<JobMark>, FOLLOW_UP_RUN, this.config.FOLLOW_UP_INTERVAL_MS, { force: first }))) return;
        const [submittedFailed, expiredFailed] = [await settled(submitted.execute()), await settled(expired.execute())];
        if (submittedFailed) throw submittedFailed;
        if (expiredFailed) throw expiredFailed;
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

/** The job mark recording when the follow-up last started (`upTo`), in any instance. */
export const FOLLOW_UP_RUN = 'follow-up:last-run';

/**
 * Takes the run of an interval of a periodic job for this instance: true when no instance started one within the last
 * nine tenths of `everyMs` (the timers of instances drift apart by less than that), recording now as the last start;
 * false when one did. One upsert guarded by the last start (it cannot insert a second `_id`: a lost race is a duplicate
 * key). `force`: take it whatever the last start (recorded all the same).
 */
export async function claimRun(marks: Collection<JobMark>, id: string, everyMs: number, { force = false } = {}, now = new Date()): Promise<boolean> {
  const due = new Date(now.getTime() - Math.floor(everyMs * 0.9));
  try {
    await marks.updateOne({ _id: id, ...(!force && { upTo: { $lte: due } }) }, { $set: { upTo: now } }, { upsert: true });
    return true;
  } catch (error) {
    if (isDuplicateKey(error)) return false;
    throw error;
  }
}

/** The error a run ended with, or undefined when it succeeded. */
function settled(run: Promise<unknown>): Promise<unknown> {
  return run.then(
    () => undefined,
    (error: unknown) => error ?? new Error('failed'),
  );
}
