import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { PayoutAccess } from '../../profiles/payout-access';
import { canReadBankProfile, servedLocations } from '../../profiles/permissions';
import { BankProfile } from '../bank-profile.schema';
import { BankProfilesRepository } from '../bank-profiles.repository';

/**
 * Bank profiles of the caller's partner (masked views): company admins read all of them; Incentives admins and users
 * those serving at least one location they hold a role on (canReadBankProfile). Another partner's profile is 404; one
 * of the partner serving none of the caller's locations is left out of the list, and 403 when asked for by id.
 */
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
    this.access.bankProfileReader(actor, profileId, servedLocations(profile));
    return profile;
  }

  /** The partner's profiles are read and filtered here: a partner has a handful, and the rule stays in one place. */
  async list(principal: Principal): Promise<BankProfile[]> {
    const actor = await this.access.bankReader(principal);
    const all = await this.profiles.listForPartner(actor.partnerId);
    return all.filter((profile) => canReadBankProfile(actor, servedLocations(profile)));
  }
}
