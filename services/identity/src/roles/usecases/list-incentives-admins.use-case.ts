import { ALL_LOCATIONS, grantsRole } from '@lib/contracts';
import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { IdentityAccess } from '../../access/identity-access';
import { can } from '../../access/permissions';
import { PartnersRepository } from '../../partners/partners.repository';
import { HOLDER_ORDER, UsersRepository } from '../../users/users.repository';
import { RoleHoldersQuery, RoleHoldersView } from '../dto/role.dto';

/**
 * Who holds INCENTIVES_ADMIN on a location (directly or through `*`), active users only, by email, a page at a time
 * (a large partner's `*` holders are many). For the partner's admins: Global and Account admins, and the Incentives
 * admins of that location. Another partner's location (or an unknown one) is 404.
 */
@Injectable()
export class ListIncentivesAdmins {
  constructor(
    private readonly access: IdentityAccess,
    private readonly partners: PartnersRepository,
    private readonly users: UsersRepository,
  ) {}

  async execute(principal: Principal, locationId: string, query: RoleHoldersQuery = {}): Promise<RoleHoldersView> {
    const actor = await this.access.actor(principal);
    if (!(await this.partners.hasLocation(actor.partnerId, locationId))) throw Problems.notFound(`Location ${locationId}`);
    const companyAdmin = can(actor.roles, 'roles.list-holders');
    if (!companyAdmin && !grantsRole(actor.roles, 'INCENTIVES_ADMIN', locationId)) {
      throw Problems.forbidden(`Only a Global admin, an Account admin or an Incentives admin of location ${locationId} can list its Incentives admins.`);
    }
    const limit = query.limit ?? 100;
    const rows = await this.users.holders(actor.partnerId, 'INCENTIVES_ADMIN', locationId, { after: HOLDER_ORDER.after(query.cursor), count: limit + 1 });
    const page = HOLDER_ORDER.page(rows, limit);
    return {
      locationId,
      role: 'INCENTIVES_ADMIN',
      ...(page.nextCursor !== undefined && { nextCursor: page.nextCursor }),
      items: page.items.map((user) => ({
        userId: user._id,
        email: user.email,
        displayName: user.displayName,
        locationIds: shownLocations(user.roles.find((grant) => grant.role === 'INCENTIVES_ADMIN')?.locationIds ?? [], locationId, companyAdmin),
      })),
    };
  }
}

/**
 * The holder's Incentives admin locations as the caller may see them: all of them for a company admin; for an
 * Incentives admin of the location, this location (or `*`), not the others the holder administers (SPEC 1: data only
 * of the locations one holds a role on).
 */
function shownLocations(locationIds: string[], locationId: string, companyAdmin: boolean): string[] {
  if (companyAdmin) return locationIds;
  return locationIds.includes(ALL_LOCATIONS) ? [ALL_LOCATIONS] : [locationId];
}
