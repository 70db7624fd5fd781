import { Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { Caller } from '../../access/operator-or-user.guard';
import { IdentityAccess } from '../../access/identity-access';
import { PartnerView } from '../dto/partner.dto';
import { Partner } from '../partner.schema';
import { PartnersRepository } from '../partners.repository';

export function toPartnerView(partner: Partner): PartnerView {
  return {
    partnerId: partner._id,
    name: partner.name,
    locations: partner.locations.map((l) => ({ locationId: l.locationId, country: l.country, legalName: l.legalName })),
  };
}

/** The partner and its locations: for operators, and for any active user of that partner (others: 404). */
@Injectable()
export class GetPartner {
  constructor(
    private readonly partners: PartnersRepository,
    private readonly access: IdentityAccess,
  ) {}

  async execute(caller: Caller, partnerId: string): Promise<PartnerView> {
    if (!caller.operator) {
      const actor = await this.access.actor(caller.principal);
      if (actor.partnerId !== partnerId) throw Problems.notFound(`Partner ${partnerId}`);
    }
    const partner = await this.partners.find(partnerId);
    if (!partner) throw Problems.notFound(`Partner ${partnerId}`);
    return toPartnerView(partner);
  }
}
