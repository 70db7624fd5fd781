import { DEFAULT_PAGE_SIZE, Keyset, Page, PageQuery, Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { PayoutAccess } from '../../profiles/payout-access';
import { DefaultBankProfile } from '../default-bank-profile.schema';

/**
 * The order of the list of defaults: by _id, which is the location's id (one document per location), so it is
 * already total; answered from the _id index.
 */
export const DEFAULT_BANK_PROFILE_ORDER = new Keyset<DefaultBankProfile>('default-bank-profiles', ['_id']);

@Injectable()
export class ReadDefaultBankProfiles {
  constructor(
    private readonly access: PayoutAccess,
    @InjectModel(DefaultBankProfile.name) private readonly defaults: Model<DefaultBankProfile>,
  ) {}

  async ofLocation(principal: Principal, locationId: string): Promise<DefaultBankProfile> {
    const { actor } = await this.access.locationReader(principal, locationId);
    const current = await this.defaults.findOne({ _id: locationId, partnerId: actor.partnerId }).lean<DefaultBankProfile>();
    if (!current?.bankProfileId) throw Problems.notFound(`Default bank profile of location ${locationId}`);
    return current;
  }

  /** A page, in DEFAULT_BANK_PROFILE_ORDER; the filter is the whole access rule, so `limit + 1` rows tell whether there is a next. */
  async visible(principal: Principal, { limit = DEFAULT_PAGE_SIZE, cursor }: PageQuery): Promise<Page<DefaultBankProfile>> {
    const { actor, locationIds } = await this.access.visibleLocations(principal);
    const position = DEFAULT_BANK_PROFILE_ORDER.after(cursor);
    const rows = await this.defaults
      .find({ partnerId: actor.partnerId, ...(locationIds && { _id: { $in: locationIds } }), bankProfileId: { $ne: null }, ...position })
      .sort(DEFAULT_BANK_PROFILE_ORDER.sort)
      .limit(limit + 1)
      .lean<DefaultBankProfile[]>();
    return DEFAULT_BANK_PROFILE_ORDER.page(rows, limit);
  }
}
