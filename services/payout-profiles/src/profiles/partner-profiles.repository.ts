import { OutboxEntry } from '@lib/messaging';
import { FilterQuery, Model, UpdateQuery } from 'mongoose';

/**
 * A kind of profile (bank, tax). Every read and write on a partner's behalf takes the partnerId, so another partner's
 * profile is never found nor changed; work on no partner's behalf (the operator API, back-office results, the secrets'
 * reseal, the expiry scan) goes through `unscoped`.
 */
export abstract class PartnerProfilesRepository<T extends { _id: string; partnerId: string }> {
  protected constructor(protected readonly model: Model<T>) {}

  /** Every partner's profiles: for work on no partner's behalf only (see the class). */
  get unscoped(): Model<T> {
    return this.model;
  }

  /** A new profile (its partnerId in it) with its first events. */
  async create(profile: T, outbox: OutboxEntry[]): Promise<void> {
    await this.model.create({ ...profile, outbox });
  }

  /** One write to the partner's profile, only while `guard` holds (its version, ...): whether it was written. */
  async updateForPartner(partnerId: string, profileId: string, guard: FilterQuery<T>, update: UpdateQuery<T>): Promise<boolean> {
    const { matchedCount } = await this.model.updateOne({ ...guard, _id: profileId, partnerId } as FilterQuery<T>, update, { timestamps: false });
    return matchedCount === 1;
  }

  /** Any partner's: for the operator API, and a create's replay under its Idempotency-Key (which compares the partner). */
  findAnyPartner(profileId: string): Promise<T | null> {
    return this.model.findById(profileId).lean<T>().exec();
  }
}
