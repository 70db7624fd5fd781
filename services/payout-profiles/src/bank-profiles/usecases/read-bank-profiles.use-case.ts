import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { PayoutAccess } from '../../profiles/payout-access';
import { BankProfile } from '../bank-profile.schema';
import { BankProfilesRepository } from '../bank-profiles.repository';

/** Bank profiles of the caller's partner, for anyone with an incentives or company admin role (masked views). */
@Injectable()
export class ReadBankProfiles {
  constructor(
    private readonly access: PayoutAccess,
    private readonly profiles: BankProfilesRepository,
  ) {}

  async one(principal: Principal, profileId: string): Promise<BankProfile> {
    const actor = await this.access.bankReader(principal);
    const profile = await this.profiles.findForPartner(actor.partnerId, profileId);
    if (!profile) throw Problems.notFound(`Bank profile ${profileId}`);
    return profile;
  }

  async list(principal: Principal): Promise<BankProfile[]> {
    const actor = await this.access.bankReader(principal);
    return this.profiles.listForPartner(actor.partnerId);
  }
}
