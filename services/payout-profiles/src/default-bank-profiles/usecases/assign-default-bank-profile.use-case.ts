import { DefaultBankProfileChange, Topics } from '@lib/contracts';
import { EventOutbox, isDuplicateKey, pushOutbox } from '@lib/messaging';
import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { BankProfilesRepository } from '../../bank-profiles/bank-profiles.repository';
import { PayoutAccess } from '../../profiles/payout-access';
import { DefaultBankProfile } from '../default-bank-profile.schema';

export type AssignOutcome = 'ASSIGNED' | 'UNCHANGED';

const ATTEMPTS = 5;

/**
 * Makes (bank profile, currency) the default of locations. The caller must be Incentives admin of every
 * location (checked for all before anything changes); each location is then one conditional write with its
 * DefaultBankProfileAssigned event (key locationId). Assigning the same default again changes nothing.
 */
@Injectable()
export class AssignDefaultBankProfile {
  constructor(
    private readonly access: PayoutAccess,
    private readonly bankProfiles: BankProfilesRepository,
    @InjectModel(DefaultBankProfile.name) private readonly defaults: Model<DefaultBankProfile>,
    private readonly outbox: EventOutbox,
  ) {}

  async execute(
    principal: Principal,
    input: { bankProfileId: string; currency: string; locationIds: string[]; expectedVersion?: number },
  ): Promise<Array<{ outcome: AssignOutcome; current: DefaultBankProfile }>> {
    const actor = await this.access.locationsAdmin(principal, input.locationIds, 'set its default bank profile');
    const profile = await this.bankProfiles.findForPartner(actor.partnerId, input.bankProfileId);
    if (!profile) throw Problems.field('bankProfileId', 'must be a bank profile of your partner');
    if (profile.currency !== input.currency) {
      throw Problems.field('currency', `must be the currency of the bank profile (${profile.currency})`);
    }
    const results: Array<{ outcome: AssignOutcome; current: DefaultBankProfile }> = [];
    for (const locationId of input.locationIds) {
      results.push(await this.assign(actor.partnerId, actor.userId, locationId, input.bankProfileId, input.currency, input.expectedVersion));
    }
    this.outbox.committed();
    return results;
  }

  private async assign(
    partnerId: string,
    userId: string,
    locationId: string,
    bankProfileId: string,
    currency: string,
    expectedVersion?: number,
  ): Promise<{ outcome: AssignOutcome; current: DefaultBankProfile }> {
    for (let attempt = 1; ; attempt++) {
      const existing = await this.defaults.findOne({ _id: locationId, partnerId }).lean<DefaultBankProfile>();
      if (expectedVersion !== undefined && (existing?.version ?? 0) !== expectedVersion) {
        throw Problems.preconditionFailed(existing?.version ?? 0);
      }
      if (existing && existing.bankProfileId === bankProfileId && existing.currency === currency) {
        return { outcome: 'UNCHANGED', current: existing };
      }
      const data: DefaultBankProfileChange = { partnerId, locationId, bankProfileId, currency };
      const event = this.outbox.event(Topics.payoutProfiles, { type: 'DefaultBankProfileAssigned', data, key: locationId });
      const changedAt = new Date();
      const next: DefaultBankProfile = {
        _id: locationId,
        locationId,
        partnerId,
        bankProfileId,
        currency,
        version: (existing?.version ?? 0) + 1,
        changedBy: userId,
        changedAt,
      };
      try {
        if (!existing) {
          await this.defaults.create({ ...next, outbox: [event] });
          return { outcome: 'ASSIGNED', current: next };
        }
        const { matchedCount } = await this.defaults.updateOne(
          { _id: locationId, partnerId, version: existing.version },
          { $set: { bankProfileId, currency, version: next.version, changedBy: userId, changedAt }, $push: pushOutbox([event]) },
        );
        if (matchedCount === 1) return { outcome: 'ASSIGNED', current: next };
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      // Someone else changed this location's default meanwhile: read it again.
      if (attempt >= ATTEMPTS) throw Problems.busy(`The default bank profile of ${locationId} is changing; retry.`);
    }
  }
}
