import { ALL_LOCATIONS, Role } from '@lib/contracts';
import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { Actor, IdentityAccess } from '../../access/identity-access';
import { GlobalAdminKeeper } from '../../users/global-admin-keeper';
import { User } from '../../users/user.schema';
import { RoleChangeInput } from '../dto/role.dto';
import { assignRole, Grant, isCompanyRole, normalizeLocations, revokeRole } from '../role-grants';
import { RoleChangeWriter } from './role-change-writer';
import { RoleChangeChecks } from './role-targets';

/**
 * Removes a role from locations (or entirely with `*`). Revoking what is not held changes nothing; some locations of a
 * role held on `*` leave it on the partner's other locations. GLOBAL_ADMIN is never revoked from yourself, nor from
 * the partner's last active Global admin (GlobalAdminKeeper).
 */
@Injectable()
export class RevokeRole {
  constructor(
    private readonly access: IdentityAccess,
    private readonly checks: RoleChangeChecks,
    private readonly writer: RoleChangeWriter,
    private readonly globalAdmins: GlobalAdminKeeper,
  ) {}

  /** `expected`: the user's revision the client read (If-Match); a change since answers 412 instead of merging. */
  async execute(principal: Principal, userId: string, input: RoleChangeInput, expected?: number): Promise<User> {
    const actor = await this.access.actor(principal);
    const user = await this.checks.check(actor, userId, input, 'revoke');
    if (input.role === 'GLOBAL_ADMIN' && user._id === actor._id) {
      throw Problems.conflict('You cannot revoke your own Global admin role; another Global admin can.');
    }
    // Some locations of a role held on `*` leave it on the partner's other locations (revokeRole).
    const some = !isCompanyRole(input.role) && !input.locationIds.includes(ALL_LOCATIONS);
    const partnerLocations = some ? await this.checks.ownLocations(actor.partnerId) : [];
    // The role's locations as the write made left them, when it narrowed a role held on `*` (its compute, as the writer
    // last ran it); null otherwise.
    let narrowedTo: string[] | null = null;
    const revoke = (inTime?: () => void) =>
      this.writer.write(
        actor,
        user,
        input,
        'RoleRevoked',
        expected,
        (current) => {
          const result = revokeRole(current.roles, input.role, input.locationIds, partnerLocations);
          const fromAll = some && current.roles.some((grant) => grant.role === input.role && grant.locationIds.includes(ALL_LOCATIONS));
          narrowedTo = fromAll ? heldOn(result.roles, input.role) : null;
          return result;
        },
        inTime,
      );
    // Only a user read with GLOBAL_ADMIN can lose it: the writer re-reads only after a write it attempted.
    const removesGlobalAdmin = input.role === 'GLOBAL_ADMIN' && user.roles.some((grant) => grant.role === 'GLOBAL_ADMIN');
    const revoked = await (removesGlobalAdmin ? this.globalAdmins.removing(user.partnerId, user._id, actor, revoke) : revoke());
    return narrowedTo ? this.keepAdded(actor, revoked, input, partnerLocations, narrowedTo) : revoked;
  }

  /**
   * A role held on `*`, some of its locations revoked, is held on the partner's other locations as they were read: one
   * added to the partner between that read and the write was not among them. Held on `*`, the user held it there too,
   * and nobody revoked it: it is given back (RoleAssigned), as the partner's locations are once the write is done;
   * only while the role is held as the revoke left it (`narrowedTo`): another admin's change of it since decides.
   */
  private async keepAdded(actor: Actor, revoked: User, input: RoleChangeInput, partnerLocations: string[], narrowedTo: string[]): Promise<User> {
    const added = (await this.checks.ownLocations(actor.partnerId)).filter((id) => !partnerLocations.includes(id) && !input.locationIds.includes(id));
    if (added.length === 0) return revoked;
    const kept = { role: input.role, locationIds: added };
    const asLeft = (current: User) => JSON.stringify(heldOn(current.roles, input.role)) === JSON.stringify(narrowedTo);
    return this.writer.write(actor, revoked, kept, 'RoleAssigned', undefined, (current) =>
      asLeft(current) ? assignRole(current.roles, input.role, added) : { roles: current.roles, changed: [] },
    );
  }
}

/** The locations `role` is held on in `roles` (sorted), none when it is not held. */
function heldOn(roles: Grant[], role: Role): string[] {
  return normalizeLocations(roles.find((grant) => grant.role === role)?.locationIds ?? []);
}
