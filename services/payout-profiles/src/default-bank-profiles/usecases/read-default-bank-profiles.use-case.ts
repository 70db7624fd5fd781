import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { PayoutAccess } from '../../profiles/payout-access';
import { DefaultBankProfile } from '../default-bank-profile.schema';

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

  async visible(principal: Principal): Promise<DefaultBankProfile[]> {
    const { actor, locationIds } = await this.access.visibleLocations(principal);
    return this.defaults
      .find({ partnerId: actor.partnerId, _id: { $in: locationIds }, bankProfileId: { $ne: null } })
      .sort({ _id: 1 })
      .lean<DefaultBankProfile[]>();
  }
}
