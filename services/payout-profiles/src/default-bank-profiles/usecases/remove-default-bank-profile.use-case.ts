import { DefaultBankProfileChange, Topics } from '@lib/contracts';
import { EventOutbox, pushOutbox } from '@lib/messaging';
import { Clock, Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { PayoutAccess } from '../../profiles/payout-access';
import { DefaultBankProfile, defaultVersionMatches } from '../default-bank-profile.schema';
import { DefaultClaims } from '../default-claims';

const ATTEMPTS = 5;

/**
 * Frees a location of its default bank profile, with DefaultBankProfileRemoved (naming the removed pair, with the
 * default's new version).
 * Removing when there is none changes nothing and still answers success (DELETE is idempotent): without If-Match, a
 * removal that loses a race reads the default again (a concurrent identical DELETE leaves nothing to remove: 204);
 * with If-Match, a stale version answers 412 with the version actually stored.
 */
@Injectable()
export class RemoveDefaultBankProfile {
  constructor(
    private readonly access: PayoutAccess,
    @InjectModel(DefaultBankProfile.name) private readonly defaults: Model<DefaultBankProfile>,
    private readonly outbox: EventOutbox,
    private readonly claims: DefaultClaims,
    private readonly clock: Clock,
  ) {}

  async execute(principal: Principal, locationId: string, expectedVersion?: number): Promise<{ removed: boolean }> {
    const { actor } = await this.access.locationAdmin(principal, locationId, 'remove its default bank profile');
    for (let attempt = 1; ; attempt++) {
      const existing = await this.defaults.findOne({ _id: locationId, partnerId: actor.partnerId }).lean<DefaultBankProfile>();
      if (expectedVersion !== undefined && !defaultVersionMatches(existing, expectedVersion)) {
        throw Problems.preconditionFailed(existing?.version ?? 0);
      }
      if (!existing?.bankProfileId || !existing.currency) return { removed: false };
      const version = existing.version + 1;
      const data: DefaultBankProfileChange = {
        partnerId: actor.partnerId,
        locationId,
        bankProfileId: existing.bankProfileId,
        currency: existing.currency,
        version,
      };
      const event = this.outbox.event(Topics.payoutProfiles, { type: 'DefaultBankProfileRemoved', data, key: locationId });
      const { matchedCount } = await this.defaults.updateOne(
        { _id: locationId, partnerId: actor.partnerId, version: existing.version },
        {
          $set: { bankProfileId: null, currency: null, version, changedBy: actor.userId, changedAt: this.clock.now() },
          $push: pushOutbox([event]),
        },
      );
      if (matchedCount === 1) {
        this.outbox.committed();
        // After the default is gone, never before: the profile no longer serves this location. Best effort: the
        // removal is committed, and a claim left behind is obsolete (dropped on the profile's next change).
        await this.claims.releaseAfterWrite(actor.partnerId, existing.bankProfileId, new Map([[locationId, version]]));
        return { removed: true };
      }
      // Changed meanwhile: the next read answers (412 with what is stored now under If-Match).
      if (attempt >= ATTEMPTS) throw Problems.busy(`The default bank profile of ${locationId} is changing; retry.`);
    }
  }
}
