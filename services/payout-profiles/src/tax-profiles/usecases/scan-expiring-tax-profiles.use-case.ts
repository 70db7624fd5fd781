import { deterministicId, TaxProfileExpiring, Topics } from '@lib/contracts';
import { EventOutbox, pushOutbox } from '@lib/messaging';
import { BackgroundWork, Clock, CONFIG } from '@lib/platform';
import { Inject, Injectable } from '@nestjs/common';
import type { PayoutConfig } from '../../config';
import { TaxProfile } from '../tax-profile.schema';
import { TaxProfilesRepository } from '../tax-profiles.repository';
import { daysLeft } from '../tax-rules';

export interface ExpiryScanResult {
  /** Profiles expiring within the window that had not been reported for their current expiresAt. */
  candidates: number;
  reported: number;
  /** False when shutdown stopped it before the last candidate (the next scan reports the rest). */
  complete: boolean;
}

/**
 * Reports tax profiles whose forms expire within the window (TaxProfileExpiring, keyed by location), once per expiry
 * date set: `expiryReportedFor` is set in the same write (and cleared only by an edit that changes the date), and the
 * event id is derived from the profile, revision and date, so overlapping scans (schedule, operator, several instances)
 * report each date once; a new revision with the same date is not reported again, a date changed and set back (a later
 * revision) is.
 */
@Injectable()
export class ScanExpiringTaxProfiles {
  constructor(
    private readonly profiles: TaxProfilesRepository,
    private readonly outbox: EventOutbox,
    private readonly work: BackgroundWork,
    @Inject(CONFIG) private readonly config: PayoutConfig,
    private readonly clock: Clock,
  ) {}

  /** At shutdown the scan stops after the profile it is writing; the next scan reports the rest. */
  execute(now = this.clock.now()): Promise<ExpiryScanResult> {
    return this.work.run('tax-expiry-scan', () => this.scan(now), { complete: (result) => result.complete });
  }

  private async scan(now: Date): Promise<ExpiryScanResult> {
    const horizon = new Date(now.getTime() + this.config.TAX_EXPIRY_WINDOW_DAYS * 86_400_000);
    const cursor = this.profiles.unscoped
      .find({ expiresAt: { $lte: horizon }, expiryReportedFor: { $exists: false } })
      .sort({ expiresAt: 1 })
      .lean<TaxProfile[]>()
      .cursor({ batchSize: 500 });
    let candidates = 0;
    let reported = 0;
    let complete = true;
    for await (const profile of cursor as AsyncIterable<TaxProfile>) {
      if (this.work.stopRequested) {
        complete = false;
        break;
      }
      candidates += 1;
      const expiresAt = new Date(profile.expiresAt);
      const data: TaxProfileExpiring = {
        profileId: profile._id,
        partnerId: profile.partnerId,
        locationId: profile.locationId,
        expiresAt: expiresAt.toISOString(),
        daysLeft: daysLeft(expiresAt, now),
      };
      const event = this.outbox.event(Topics.payoutProfiles, {
        type: 'TaxProfileExpiring',
        data,
        key: profile.locationId,
        // The revision too: a date reported, changed, then set back (three revisions) is reported again, under another id
        // (notification sends once per event id and recipient).
        eventId: deterministicId('TaxProfileExpiring', profile._id, String(profile.revision), data.expiresAt),
      });
      // Of the revision read (the event's id names it): a scan overlapping this one (another replica, an operator's) that
      // read an older revision of the same date, changed and set back since, must not mark this one reported under that
      // revision's id, which notification has sent already.
      const result = await this.profiles.unscoped.updateOne(
        { _id: profile._id, revision: profile.revision, expiresAt, expiryReportedFor: { $exists: false } },
        { $set: { expiryReportedFor: expiresAt }, $push: pushOutbox([event]) },
        { timestamps: false },
      );
      if (result.modifiedCount === 1) reported += 1;
    }
    if (reported) this.outbox.committed();
    return { candidates, reported, complete };
  }
}
