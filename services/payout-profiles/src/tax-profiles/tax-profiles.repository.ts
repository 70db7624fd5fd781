import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Keyset } from '@lib/platform';
import { OutboxEntry } from '@lib/messaging';
import { FilterQuery, Model, UpdateQuery } from 'mongoose';
import { TaxProfile } from './tax-profile.schema';

/** The order of the list of tax profiles: by location (one profile each), then _id as the keyset wants it. */
export const TAX_PROFILE_ORDER = new Keyset<TaxProfile>('tax-profiles', ['locationId', '_id']);

/**
 * Tax profiles. Every read and write on a partner's behalf takes the partnerId, so another partner's profile is never
 * found nor changed; work on no partner's behalf (the operator API, back-office results, the secrets' reseal, the
 * expiry scan) goes through `unscoped`.
 */
@Injectable()
export class TaxProfilesRepository {
  constructor(@InjectModel(TaxProfile.name) private readonly model: Model<TaxProfile>) {}

  /** Every partner's profiles: for work on no partner's behalf only (see the class). */
  get unscoped(): Model<TaxProfile> {
    return this.model;
  }

  /** A new profile (its partnerId in it) with its first events. */
  async create(profile: TaxProfile, outbox: OutboxEntry[]): Promise<void> {
    await this.model.create({ ...profile, outbox });
  }

  /** One write to the partner's profile, only while `guard` holds (its version, ...): whether it was written. */
  async updateForPartner(partnerId: string, profileId: string, guard: FilterQuery<TaxProfile>, update: UpdateQuery<TaxProfile>): Promise<boolean> {
    const { matchedCount } = await this.model.updateOne({ ...guard, _id: profileId, partnerId }, update, { timestamps: false });
    return matchedCount === 1;
  }

  findForLocation(partnerId: string, locationId: string): Promise<TaxProfile | null> {
    return this.model.findOne({ locationId, partnerId }).lean<TaxProfile>().exec();
  }

  /** `count` profiles of the locations in TAX_PROFILE_ORDER, after a position (`after`: TAX_PROFILE_ORDER.after). */
  listForLocations(partnerId: string, locationIds: string[] | null, after: Record<string, unknown>, count: number): Promise<TaxProfile[]> {
    return this.model
      .find({ partnerId, ...(locationIds && { locationId: { $in: locationIds } }), ...after })
      .sort(TAX_PROFILE_ORDER.sort)
      .limit(count)
      .lean<TaxProfile[]>()
      .exec();
  }

  /** For the operator API and the validation results, which are not bound to a partner. */
  findAnyPartner(profileId: string): Promise<TaxProfile | null> {
    return this.model.findById(profileId).lean<TaxProfile>().exec();
  }
}
