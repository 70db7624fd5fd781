import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { TaxProfile } from './tax-profile.schema';

/** Tax profile reads. Every user-facing read takes the partnerId, so another partner's profile is never found. */
@Injectable()
export class TaxProfilesRepository {
  constructor(@InjectModel(TaxProfile.name) readonly model: Model<TaxProfile>) {}

  findForLocation(partnerId: string, locationId: string): Promise<TaxProfile | null> {
    return this.model.findOne({ locationId, partnerId }).lean<TaxProfile>().exec();
  }

  listForLocations(partnerId: string, locationIds: string[]): Promise<TaxProfile[]> {
    return this.model.find({ partnerId, locationId: { $in: locationIds } }).sort({ locationId: 1 }).lean<TaxProfile[]>().exec();
  }

  /** For the operator API and the validation results, which are not bound to a partner. */
  findAnyPartner(profileId: string): Promise<TaxProfile | null> {
    return this.model.findById(profileId).lean<TaxProfile>().exec();
  }
}
