import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { PayoutAccess } from '../../profiles/payout-access';
import { TaxProfile } from '../tax-profile.schema';
import { TaxProfilesRepository } from '../tax-profiles.repository';

/** Tax profiles of the locations the caller may see (incentives role there, or company admin). */
@Injectable()
export class ReadTaxProfiles {
  constructor(
    private readonly access: PayoutAccess,
    private readonly profiles: TaxProfilesRepository,
  ) {}

  async ofLocation(principal: Principal, locationId: string): Promise<TaxProfile> {
    const { actor } = await this.access.locationReader(principal, locationId);
    const profile = await this.profiles.findForLocation(actor.partnerId, locationId);
    if (!profile) throw Problems.notFound(`Tax profile of location ${locationId}`);
    return profile;
  }

  async visible(principal: Principal): Promise<TaxProfile[]> {
    const { actor, locationIds } = await this.access.visibleLocations(principal);
    return this.profiles.listForLocations(actor.partnerId, locationIds);
  }
}
