import { ALL_LOCATIONS, COMPANY_ROLES } from '@lib/contracts';
import { Caller, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
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

/**
 * The partner and its locations: for operators, and for any active user of that partner (others: 404). A user sees
 * the locations their roles name (SPEC 1: data only of the locations one holds a role on); Global and Account admins,
 * and a role on every location (`*`), see them all.
 */
@Injectable()
export class GetPartner {
  constructor(
    private readonly partners: PartnersRepository,
    private readonly access: IdentityAccess,
  ) {}

  async execute(caller: Caller, partnerId: string): Promise<PartnerView> {
    let sees = (_locationId: string) => true;
    if (!caller.operator) {
      const actor = await this.access.actor(caller.principal);
      if (actor.partnerId !== partnerId) throw Problems.notFound(`Partner ${partnerId}`);
      const named = new Set(actor.roles.flatMap((grant) => grant.locationIds));
      if (!actor.roles.some((grant) => COMPANY_ROLES.includes(grant.role)) && !named.has(ALL_LOCATIONS)) sees = (locationId) => named.has(locationId);
    }
    const partner = await this.partners.find(partnerId);
    if (!partner) throw Problems.notFound(`Partner ${partnerId}`);
    const view = toPartnerView(partner);
    return { ...view, locations: view.locations.filter((location) => sees(location.locationId)) };
  }
}
