import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Keyset } from '@lib/platform';
import { Model } from 'mongoose';
import { PartnerProfilesRepository } from '../profiles/partner-profiles.repository';
import { BankProfile } from './bank-profile.schema';

/** The order of the list of a partner's bank profiles: by name as compared (nameKey), then _id to make it total. */
export const BANK_PROFILE_ORDER = new Keyset<BankProfile>('bank-profiles', ['nameKey', '_id']);

/**
 * What a read by id does not show nor check (bankProfileView, canReadBankProfile): the defaults it holds (a location
 * each: 5,000 for a default of every location of a large partner), the decisions' keys and the sealed secret.
 */
const NOT_SHOWN = '-decisionKeys -defaultFor -sealedAccount -supersededSecrets';

/**
 * What a list does not show nor check: NOT_SHOWN and the validation history (up to 20 revisions of reasons), megabytes
 * a page of large profiles would read for nothing.
 */
const NOT_LISTED = `-validationHistory ${NOT_SHOWN}`;

/** What a profile is judged by against a program's payout rules (missingPayoutItems), and the locations it serves. */
export type JudgedBankProfile = Pick<BankProfile, '_id' | 'partnerId' | 'status' | 'currency' | 'paymentMethod' | 'locationIds'>;
const JUDGED = '_id partnerId status currency paymentMethod locationIds';

/** Bank profiles of partners (PartnerProfilesRepository: a partner's reads and writes take its partnerId). */
@Injectable()
export class BankProfilesRepository extends PartnerProfilesRepository<BankProfile> {
  constructor(@InjectModel(BankProfile.name) model: Model<BankProfile>) {
    super(model);
  }

  findForPartner(partnerId: string, profileId: string): Promise<BankProfile | null> {
    return this.model.findOne({ _id: profileId, partnerId }).lean<BankProfile>().exec();
  }

  /** The profile as its GET shows it (NOT_SHOWN left out). */
  findShown(partnerId: string, profileId: string): Promise<BankProfile | null> {
    return this.model.findOne({ _id: profileId, partnerId }).select(NOT_SHOWN).lean<BankProfile>().exec();
  }

  /** What readiness reads of a profile (JUDGED). */
  findJudged(partnerId: string, profileId: string): Promise<JudgedBankProfile | null> {
    return this.model.findOne({ _id: profileId, partnerId }).select(JUDGED).lean<JudgedBankProfile>().exec();
  }

  /**
   * `count` of the partner's profiles in BANK_PROFILE_ORDER, after a position (`after`: BANK_PROFILE_ORDER.after), among
   * those `readable` selects (readableBankProfilesFilter; both are `$or`s, so they go under `$and`).
   */
  listForPartner(partnerId: string, after: Record<string, unknown>, count: number, readable?: Record<string, unknown>): Promise<BankProfile[]> {
    const filters = [after, readable].filter((f): f is Record<string, unknown> => !!f && Object.keys(f).length > 0);
    return this.model
      .find({ partnerId, ...(filters.length && { $and: filters }) })
      .select(NOT_LISTED)
      .sort(BANK_PROFILE_ORDER.sort)
      .limit(count)
      .lean<BankProfile[]>()
      .exec();
  }
}
