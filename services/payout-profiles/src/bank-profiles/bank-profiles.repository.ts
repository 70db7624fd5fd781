import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { BankProfile } from './bank-profile.schema';

/** Bank profile reads. Every user-facing read takes the partnerId, so another partner's profile is never found. */
@Injectable()
export class BankProfilesRepository {
  constructor(@InjectModel(BankProfile.name) readonly model: Model<BankProfile>) {}

  findForPartner(partnerId: string, profileId: string): Promise<BankProfile | null> {
    return this.model.findOne({ _id: profileId, partnerId }).lean<BankProfile>().exec();
  }

  listForPartner(partnerId: string): Promise<BankProfile[]> {
    return this.model.find({ partnerId }).sort({ nameKey: 1 }).lean<BankProfile[]>().exec();
  }

  /** For the operator API and the validation results, which are not bound to a partner. */
  findAnyPartner(profileId: string): Promise<BankProfile | null> {
    return this.model.findById(profileId).lean<BankProfile>().exec();
  }
}
