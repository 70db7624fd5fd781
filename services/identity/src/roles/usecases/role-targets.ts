import { ALL_LOCATIONS } from '@lib/contracts';
import { Problems, ValidationProblem } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { Actor, IdentityAccess } from '../../access/identity-access';
import { ROLE_LABELS } from '../../access/permissions';
import { PartnersRepository } from '../../partners/partners.repository';
import { User } from '../../users/user.schema';
import { RoleChangeInput } from '../dto/role.dto';
import { isCompanyRole } from '../role-grants';

/** Location ids a role change checks with one query (PartnersRepository.hasLocations); more are read with the partner. */
const FEW_LOCATIONS = 16;

/**
 * The checks shared by assigning and revoking: the caller, the target user (404 outside the caller's
 * partner), who may change which role (403), and the location list (400 naming `locationIds`; a location
 * of another partner answers exactly like an unknown one).
 */
@Injectable()
export class RoleChangeChecks {
  constructor(
    private readonly access: IdentityAccess,
    private readonly partners: PartnersRepository,
  ) {}

  async check(actor: Actor, userId: string, input: RoleChangeInput, verb: 'assign' | 'revoke'): Promise<User> {
    const target = await this.access.target(actor, userId);
    const label = ROLE_LABELS[input.role];
    if (isCompanyRole(input.role)) {
      this.access.require(actor, 'roles.manage-company', `${verb} the ${label} role`);
      if (input.locationIds.length !== 1 || input.locationIds[0] !== ALL_LOCATIONS) {
        throw Problems.field('locationIds', `must be ["*"]: ${label} is a company-wide role`);
      }
      return target;
    }
    this.access.require(actor, 'roles.manage-incentive', `${verb} incentive roles`);
    if (input.locationIds.includes(ALL_LOCATIONS) && input.locationIds.length > 1) {
      throw Problems.field('locationIds', 'must be ["*"] alone or a list of location ids');
    }
    await this.requireOwnLocations(actor.partnerId, input.locationIds);
    return target;
  }

  async requireOwnLocations(partnerId: string, locationIds: string[]): Promise<void> {
    const named = [...new Set(locationIds.filter((id) => id !== ALL_LOCATIONS))];
    if (named.length === 0) return;
    // A few, all the partner's: one indexed check, not a read of its list of locations (half a megabyte at 5,000). Not
    // for many: `$all` compares each id with the whole list (thousands by thousands, in the database), where one read
    // and a set do it at once. (FerretDB matches no `$all` of two or more ids on a list of documents: the read then.)
    if (named.length <= FEW_LOCATIONS && (await this.partners.hasLocations(partnerId, named))) return;
    const own = new Set(await this.ownLocations(partnerId));
    const unknown = locationIds.filter((id) => id !== ALL_LOCATIONS && !own.has(id));
    if (unknown.length) {
      throw new ValidationProblem(
        [{ field: 'locationIds', message: `unknown location(s) for your partner: ${[...new Set(unknown)].join(', ')}` }],
        'Roles can only be granted on locations of your own partner.',
      );
    }
  }

  /** The ids of the partner's locations. */
  async ownLocations(partnerId: string): Promise<string[]> {
    const partner = await this.partners.find(partnerId);
    return partner?.locations.map((l) => l.locationId) ?? [];
  }
}
