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
  /** The interval of a run that failed and could not give it back (releaseRun), given back before the next run claims. */
  private unreleased?: RunClaim;

  constructor(
    submitted: FollowSubmitted,
    expired: FollowExpiredTaxProfiles,
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
    @InjectModel(JobMark.name) marks: Model<JobMark>,
  ) {
    const runs = marks.collection as unknown as Collection<JobMark>;
    const logger = new Logger(FollowUpScheduler.name);
    this.job = new PeriodicJob(
      'follow-up',
      // One after the other, each whatever the other did (a failure of the first is reported once both ran).
      async () => {
        const first = this.atStart;
        this.atStart = false;
        // The interval a failed run could not give back (the database down then, often why it failed): given back now,
        // so that this retry claims it again (a failure here is the run's, retried as any).
        if (this.unreleased) {
          await releaseRun(runs, FOLLOW_UP_RUN, this.unreleased);
          this.unreleased = undefined;
        }
        const claim = await claimRun(runs, FOLLOW_UP_RUN, this.config.FOLLOW_UP_INTERVAL_MS, { force: first, logger });
        if (!claim) return;
        const [submittedRun, expiredRun] = [await outcome(submitted.execute()), await outcome(expired.execute())];
        // Failed or stopped short: the interval is given back, so that the next instance whose timer fires runs it.
        if (!submittedRun.complete || !expiredRun.complete) {
          await releaseRun(runs, FOLLOW_UP_RUN, claim).catch((error) => {
            this.unreleased = claim;
            logger.warn(`giving the follow-up's interval back failed: ${(error as Error).message}; given back before the retry`);
          });
        }
        if (submittedRun.error) throw submittedRun.error;
        if (expiredRun.error) throw expiredRun.error;
      },
      logger,
    );
  }

  onApplicationBootstrap(): void {
    this.job.start(this.config.FOLLOW_UP_INTERVAL_MS);
  }

  onModuleDestroy(): Promise<void> {
    return this.job.stop();
  }
}

/** The job mark recording when the follow-up last started (`upTo`), in any instance. */
export const FOLLOW_UP_RUN = 'follow-up:last-run';

/** An interval a periodic job's run took (claimRun): when it started, as recorded. */
export interface RunClaim {
  startedAt: Date;
}

/**
 * Takes the run of an interval of a periodic job for this instance: a claim when no instance started one within the
 * last nine tenths of `everyMs` (the timers of instances drift apart by less than that), recording now as the last
 * start; null when one did. One upsert guarded by the last start (it cannot insert a second `_id`: a lost race is a
 * duplicate key). `force` (the run at an instance's start): taken whatever the last start, recorded with `$max` (a
 * clock behind does not move it back), and taken also when that write fails (logged): it runs all the same.
 */
export async function claimRun(
  marks: Collection<JobMark>,
  id: string,
  everyMs: number,
  { force = false, logger }: { force?: boolean; logger?: Logger } = {},
  now = new Date(),
): Promise<RunClaim | null> {
  if (force) {
    await marks.updateOne({ _id: id }, { $max: { upTo: now } }, { upsert: true }).catch((error) => {
      // Two instances starting together both insert it (one collides), or the database is not there yet: it runs.
      if (!isDuplicateKey(error)) logger?.warn(`recording the run's start failed (${(error as Error).message}); it runs all the same`);
    });
    return { startedAt: now };
  }
  const due = new Date(now.getTime() - Math.floor(everyMs * 0.9));
  try {
    await marks.updateOne({ _id: id, upTo: { $lte: due } }, { $set: { upTo: now } }, { upsert: true });
    return { startedAt: now };
  } catch (error) {
    if (isDuplicateKey(error)) return null;
    throw error;
  }
}

/** Gives a claimed interval back (its run failed or stopped short), unless another run was recorded since. */
export async function releaseRun(marks: Collection<JobMark>, id: string, claim: RunClaim): Promise<void> {
  await marks.updateOne({ _id: id, upTo: claim.startedAt }, { $set: { upTo: new Date(0) } });
}

/** How a run ended: complete or not (stopped by shutdown between pages), and the error it failed with. */
async function outcome(run: Promise<{ complete: boolean }>): Promise<{ complete: boolean; error?: unknown }> {
  try {
    return { complete: (await run).complete };
  } catch (error) {
    return { complete: false, error: error ?? new Error('failed') };
  }
}
