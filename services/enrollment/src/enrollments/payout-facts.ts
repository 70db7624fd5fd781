import { Injectable } from '@nestjs/common';
import { ViewsRepository } from '../views/views.repository';
import { ProfileView } from '../views/views.schemas';
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

  async proposal(partnerId: string, locationId: string, chosenBankProfileId?: string): Promise<Proposal> {
    const bankProfileId = chosenBankProfileId ?? (await this.views.defaultBankProfileId(partnerId, locationId));
    const [bank, tax] = await Promise.all([
      bankProfileId ? this.views.profile(partnerId, bankProfileId, 'BANK') : Promise.resolve(null),
      this.views.taxProfileOfLocation(partnerId, locationId),
    ]);
    return { bankProfileId, taxProfileId: tax?._id, bank: profileFacts(bank), tax: profileFacts(tax) };
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
