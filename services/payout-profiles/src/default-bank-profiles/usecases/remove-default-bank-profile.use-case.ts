import { DefaultBankProfileChange, Topics } from '@lib/contracts';
import { EventOutbox, pushOutbox } from '@lib/messaging';
import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { PayoutAccess } from '../../profiles/payout-access';
import { DefaultBankProfile } from '../default-bank-profile.schema';

/**
 * Frees a location of its default bank profile, with DefaultBankProfileRemoved (naming the removed pair).
 * Removing when there is none changes nothing and still answers success (DELETE is idempotent).
 */
@Injectable()
export class RemoveDefaultBankProfile {
  constructor(
    private readonly access: PayoutAccess,
    @InjectModel(DefaultBankProfile.name) private readonly defaults: Model<DefaultBankProfile>,
    private readonly outbox: EventOutbox,
  ) {}

  async execute(principal: Principal, locationId: string, expectedVersion?: number): Promise<{ removed: boolean }> {
    const { actor } = await this.access.locationAdmin(principal, locationId, 'remove its default bank profile');
    const existing = await this.defaults.findOne({ _id: locationId, partnerId: actor.partnerId }).lean<DefaultBankProfile>();
    if (expectedVersion !== undefined && (existing?.version ?? 0) !== expectedVersion) {
      throw Problems.preconditionFailed(existing?.version ?? 0);
    }
    if (!existing?.bankProfileId || !existing.currency) return { removed: false };
    const data: DefaultBankProfileChange = {
      partnerId: actor.partnerId,
      locationId,
      bankProfileId: existing.bankProfileId,
      currency: existing.currency,
    };
    const event = this.outbox.event(Topics.payoutProfiles, { type: 'DefaultBankProfileRemoved', data, key: locationId });
    const { matchedCount } = await this.defaults.updateOne(
      { _id: locationId, partnerId: actor.partnerId, version: existing.version },
      {
        $set: { bankProfileId: null, currency: null, version: existing.version + 1, changedBy: actor.userId, changedAt: new Date() },
        $push: pushOutbox([event]),
      },
    );
    if (matchedCount === 0) throw Problems.preconditionFailed(existing.version + 1);
    this.outbox.committed();
    return { removed: true };
  }
}
