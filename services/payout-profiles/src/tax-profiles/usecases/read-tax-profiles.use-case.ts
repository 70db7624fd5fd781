import { DEFAULT_PAGE_SIZE, Page, PageQuery, Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { PayoutAccess } from '../../profiles/payout-access';
import { TaxProfile } from '../tax-profile.schema';
import { TAX_PROFILE_ORDER, TaxProfilesRepository } from '../tax-profiles.repository';

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

  /** A page, in TAX_PROFILE_ORDER; the filter is the whole access rule, so `limit + 1` rows tell whether there is a next. */
  async visible(principal: Principal, { limit = DEFAULT_PAGE_SIZE, cursor }: PageQuery): Promise<Page<TaxProfile>> {
    const { actor, locationIds } = await this.access.visibleLocations(principal);
    const position = TAX_PROFILE_ORDER.after(cursor);
    return TAX_PROFILE_ORDER.page(await this.profiles.listForLocations(actor.partnerId, locationIds, position, limit + 1), limit);
  }
}
