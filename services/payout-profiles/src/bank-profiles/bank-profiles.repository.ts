import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Keyset } from '@lib/platform';
import { OutboxEntry } from '@lib/messaging';
import { FilterQuery, Model, UpdateQuery } from 'mongoose';
import { BankProfile } from './bank-profile.schema';

/** The order of the list of a partner's bank profiles: by name as compared (nameKey), then _id to make it total. */
export const BANK_PROFILE_ORDER = new Keyset<BankProfile>('bank-profiles', ['nameKey', '_id']);

/**
 * Bank profiles. Every read and write on a partner's behalf takes the partnerId, so another partner's profile is never
 * found nor changed; work on no partner's behalf (the operator API, back-office results, the secrets' reseal, the
 * expiry scan) goes through `unscoped`.
 */
@Injectable()
export class BankProfilesRepository {
  constructor(@InjectModel(BankProfile.name) private readonly model: Model<BankProfile>) {}

  /** Every partner's profiles: for work on no partner's behalf only (see the class). */
  get unscoped(): Model<BankProfile> {
    return this.model;
  }

  /** A new profile (its partnerId in it) with its first events. */
  async create(profile: BankProfile, outbox: OutboxEntry[]): Promise<void> {
    await this.model.create({ ...profile, outbox });
  }

  /** One write to the partner's profile, only while `guard` holds (its version, ...): whether it was written. */
  async updateForPartner(partnerId: string, profileId: string, guard: FilterQuery<BankProfile>, update: UpdateQuery<BankProfile>): Promise<boolean> {
    const { matchedCount } = await this.model.updateOne({ ...guard, _id: profileId, partnerId }, update, { timestamps: false });
    return matchedCount === 1;
  }

  findForPartner(partnerId: string, profileId: string): Promise<BankProfile | null> {
    return this.model.findOne({ _id: profileId, partnerId }).lean<BankProfile>().exec();
  }

  /**
   * `count` of the partner's profiles in BANK_PROFILE_ORDER, after a position (`after`: BANK_PROFILE_ORDER.after), among
   * those `readable` selects (readableBankProfilesFilter; both are `$or`s, so they go under `$and`).
   */
  listForPartner(partnerId: string, after: Record<string, unknown>, count: number, readable?: Record<string, unknown>): Promise<BankProfile[]> {
    const filters = [after, readable].filter((f): f is Record<string, unknown> => !!f && Object.keys(f).length > 0);
    return this.model
      .find({ partnerId, ...(filters.length && { $and: filters }) })
      .sort(BANK_PROFILE_ORDER.sort)
      .limit(count)
      .lean<BankProfile[]>()
      .exec();
  }

  /** For the operator API and the validation results, which are not bound to a partner. */
  findAnyPartner(profileId: string): Promise<BankProfile | null> {
    return this.model.findById(profileId).lean<BankProfile>().exec();
  }
}
