import { Injectable } from '@nestjs/common';
import { ViewsRepository } from '../views/views.repository';
import { ProfileView, servesLocation } from '../views/views.schemas';
import { ProfileFacts } from './enrollment-rules';

export function profileFacts(view: ProfileView | null | undefined): ProfileFacts | undefined {
  if (!view) return undefined;
  return {
    profileId: view._id,
    partnerId: view.partnerId,
    status: view.status,
    revision: view.revision,
    reasons: view.reasons ?? [],
    currency: view.currency,
    paymentMethod: view.paymentMethod,
    ...(view.expiresAt && { expiresAt: new Date(view.expiresAt) }),
    ...(view.name !== undefined && { name: view.name }),
    ...(view.kind === 'BANK' && { locationIds: view.locationIds ?? null }),
  };
}

export interface Proposal {
  bankProfileId?: string;
  taxProfileId?: string;
  bank?: ProfileFacts;
  tax?: ProfileFacts;
}

/** Resolves a location's proposal from the profile views: the chosen or default bank profile, the tax profile. */
@Injectable()
export class PayoutFacts {
  constructor(private readonly views: ViewsRepository) {}

  /**
   * The location's default is proposed only while its profile serves the location. payout-profiles removes the
   * default of a location a profile stops serving, but that removal (keyed by location) and the profile's narrowing
   * (keyed by profile) travel on different keys: when the narrowing arrives first, the view still names the default
   * for a moment. It is not proposed then (BANK_PROFILE_MISSING, as once the removal arrives), so neither Continue nor
   * Submit goes on with a profile the location's admin may not use. A chosen profile is the caller's to check
   * (bankNoLongerServes).
   */
  async proposal(partnerId: string, locationId: string, chosenBankProfileId?: string): Promise<Proposal> {
    const bankProfileId = chosenBankProfileId ?? (await this.views.defaultBankProfileId(partnerId, locationId));
    const [bank, tax] = await Promise.all([
      bankProfileId ? this.views.profile(partnerId, bankProfileId, 'BANK') : Promise.resolve(null),
      this.views.taxProfileOfLocation(partnerId, locationId),
    ]);
    const taxFacts = { taxProfileId: tax?._id, tax: profileFacts(tax) };
    if (!chosenBankProfileId && bank && !servesLocation(bank, locationId)) return { ...taxFacts };
    return { bankProfileId, bank: profileFacts(bank), ...taxFacts };
  }

  /** The profiles a submitted enrollment uses. */
  async inUse(partnerId: string, bankProfileId?: string, taxProfileId?: string): Promise<{ bank?: ProfileFacts; tax?: ProfileFacts }> {
    const [bank, tax] = await Promise.all([
      bankProfileId ? this.views.profile(partnerId, bankProfileId, 'BANK') : Promise.resolve(null),
      taxProfileId ? this.views.profile(partnerId, taxProfileId, 'TAX') : Promise.resolve(null),
    ]);
    return { bank: profileFacts(bank), tax: profileFacts(tax) };
  }

  /** A bank profile of the partner as last published (null: unknown, or another partner's). */
  async bankProfile(partnerId: string, bankProfileId: string): Promise<ProfileView | null> {
    return this.views.profile(partnerId, bankProfileId, 'BANK');
  }
}
