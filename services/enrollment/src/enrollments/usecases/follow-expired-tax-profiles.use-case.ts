import { Topics } from '@lib/contracts';
import { BackgroundWork, Clock } from '@lib/platform';
import { Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { TAX_EXPIRY_ORDER, ViewsRepository } from '../../views/views.repository';
import { ConsumerCatchUp } from '../../common/consumer-catch-up';
import { JobMark } from '../job-mark.schema';
import { RecordProfileChange } from './record-profile-change.use-case';

const JOB = 'tax-expiry-follow-up';
const PAGE = 500;

export interface ExpiryFollowUpRun {
  /** Tax profiles whose expiry date came since the last run. */
  expired: number;
  /** Enrollments that moved on (ACTION_REQUIRED, TAX_PROFILE_EXPIRED), each with its event. */
  changed: number;
  complete: boolean;
}

/**
 * A tax profile expires on its date with no event: payout-profiles announces it before (TaxProfileExpiring), and
 * nothing when the date comes. The enrollments using it would follow it only at their next event or request (another
 * profile's change, a Continue), so an ENROLLED one whose program requires a tax profile would stay ENROLLED past the
 * expiry, depending on unrelated events. This job makes the enrollments of every tax profile whose expiry date came
 * since its last run follow it as a profile event would (RecordProfileChange.followEnrollmentsOf: ACTION_REQUIRED with
 * TAX_PROFILE_EXPIRED and its EnrollmentActionRequired, within the enrollment's fiscal year: judgedAt), then records how
 * far it got (`job_marks`), so a run after a restart, however late, starts where the last one ended. Idempotent: an
 * enrollment already ACTION_REQUIRED for it is not written again. Run with the submit follow-up (FollowUpScheduler).
 * Only on a profile view as fresh as the events already published (ConsumerCatchUp, as the rollover): a tax profile
 * renewed just before its old date, its event not consumed yet (a service started after a redeploy, a consumer
 * behind), is not taken as expired, with an email nobody can take back. Not caught up in time, or a profile event this
 * service dead-lettered not applied since (ConsumerCatchUp.unappliedDeadLetters, as the rollover): nothing is done and
 * the mark stays, for the next run.
 */
@Injectable()
export class FollowExpiredTaxProfiles {
  private readonly logger = new Logger(FollowExpiredTaxProfiles.name);

  constructor(
    private readonly views: ViewsRepository,
    private readonly profiles: RecordProfileChange,
    private readonly clock: Clock,
    private readonly work: BackgroundWork,
    @InjectModel(JobMark.name) private readonly marks: Model<JobMark>,
    private readonly catchUp: ConsumerCatchUp,
  ) {}

  execute(): Promise<ExpiryFollowUpRun> {
    return this.work.run(JOB, () => this.followAll(), { complete: (run) => run.complete });
  }

  private async followAll(): Promise<ExpiryFollowUpRun> {
    const to = this.clock.now();
    const from = (await this.marks.findById(JOB).lean<JobMark>())?.upTo ?? new Date(0);
    const run: ExpiryFollowUpRun = { expired: 0, changed: 0, complete: true };
    if (!(await this.catchUp.wait([Topics.payoutProfiles]))) {
      this.logger.warn(`not caught up with ${Topics.payoutProfiles}: the tax profiles expired since ${from.toISOString()} wait for the next run`);
      return { ...run, complete: false };
    }
    // Caught up, yet a profile event this service dead-lettered after a failure that might clear is missing from the
    // view (its offset is committed): that one may be the renewal. As the rollover, nothing until it is replayed.
    const missing = await this.catchUp.unappliedDeadLetters([Topics.payoutProfiles]);
    if (missing.length) {
      const listed = missing.slice(0, 5).map((letter) => `${letter.type} ${letter.eventId} at ${letter.partition}:${letter.offset}`);
      this.logger.warn(
        `${missing.length} message(s) of ${Topics.payoutProfiles} dead-lettered by this service and not applied since (${listed.join('; ')}): ` +
          `the tax profiles expired since ${from.toISOString()} wait until they are replayed (\`npm run dlq -- list ${Topics.payoutProfiles}\`, then \`replay\`)`,
      );
      return { ...run, complete: false };
    }
    let cursor: string | undefined;
    for (;;) {
      if (this.work.stopRequested) return { ...run, complete: false };
      const page = await this.views.taxProfilesExpiring(from, to, PAGE, cursor);
      if (page.length === 0) break;
      for (const view of page) {
        run.changed += await this.profiles.followEnrollmentsOf({ partnerId: view.partnerId, profileKind: 'TAX', profileId: view._id, locationId: view.locationId });
      }
      run.expired += page.length;
      cursor = TAX_EXPIRY_ORDER.cursorOf(page[page.length - 1]);
    }
    await this.marks.updateOne({ _id: JOB }, { $max: { upTo: to } }, { upsert: true });
    if (run.changed) this.logger.log(`${run.expired} tax profile(s) expired since ${from.toISOString()}: ${run.changed} enrollment(s) followed them`);
    return run;
  }
}
