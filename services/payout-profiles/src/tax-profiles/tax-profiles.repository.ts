import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Keyset } from '@lib/platform';
import { Model } from 'mongoose';
import { PartnerProfilesRepository } from '../profiles/partner-profiles.repository';
import { TaxProfile } from './tax-profile.schema';

/** The order of the list of tax profiles: by location (one profile each), then _id as the keyset wants it. */
export const TAX_PROFILE_ORDER = new Keyset<TaxProfile>('tax-profiles', ['locationId', '_id']);

/** Tax profiles of partners (PartnerProfilesRepository: a partner's reads and writes take its partnerId). */
@Injectable()
export class TaxProfilesRepository extends PartnerProfilesRepository<TaxProfile> {
  constructor(@InjectModel(TaxProfile.name) model: Model<TaxProfile>) {
    super(model);
  }

  findForLocation(partnerId: string, locationId: string): Promise<TaxProfile | null> {
    return this.model.findOne({ locationId, partnerId }).lean<TaxProfile>().exec();
  }

  /** `count` profiles of the locations in TAX_PROFILE_ORDER, after a position (`after`: TAX_PROFILE_ORDER.after). */
  listForLocations(partnerId: string, locationIds: string[] | null, after: Record<string, unknown>, count: number): Promise<TaxProfile[]> {
    return this.model
      .find({ partnerId, ...(locationIds && { locationId: { $in: locationIds } }), ...after })
      .sort(TAX_PROFILE_ORDER.sort)
      .limit(count)
      .lean<TaxProfile[]>()
      .exec();
  }
}
