import { ALL_LOCATIONS } from '@lib/contracts';
import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { Actor, IdentityAccess } from '../../access/identity-access';
import { GlobalAdminKeeper } from '../../users/global-admin-keeper';
import { User } from '../../users/user.schema';
import { RoleChangeInput } from '../dto/role.dto';
import { assignRole, isCompanyRole, revokeRole } from '../role-grants';
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
    // Whether the write made was of some locations of a role held on `*` (its compute, as the writer last ran it).
    let fromAll = false;
    const revoke = (inTime?: () => void) =>
      this.writer.write(
        actor,
        user,
        input,
        'RoleRevoked',
        expected,
        (current) => {
          fromAll = some && current.roles.some((grant) => grant.role === input.role && grant.locationIds.includes(ALL_LOCATIONS));
          return revokeRole(current.roles, input.role, input.locationIds, partnerLocations);
        },
        inTime,
      );
    // Only a user read with GLOBAL_ADMIN can lose it: the writer re-reads only after a write it attempted.
    const removesGlobalAdmin = input.role === 'GLOBAL_ADMIN' && user.roles.some((grant) => grant.role === 'GLOBAL_ADMIN');
    const revoked = await (removesGlobalAdmin ? this.globalAdmins.removing(user.partnerId, user._id, actor, revoke) : revoke());
    return fromAll ? this.keepAdded(actor, revoked, input, partnerLocations) : revoked;
  }

  /**
   * A role held on `*`, some of its locations revoked, is held on the partner's other locations as they were read: one
   * added to the partner between that read and the write was not among them. Held on `*`, the user held it there too,
   * and nobody revoked it: it is given back (RoleAssigned), as the partner's locations are once the write is done; not
   * when the user changed since the revoke (another admin's change decides).
   */
  private async keepAdded(actor: Actor, revoked: User, input: RoleChangeInput, partnerLocations: string[]): Promise<User> {
    const added = (await this.checks.ownLocations(actor.partnerId)).filter((id) => !partnerLocations.includes(id) && !input.locationIds.includes(id));
    if (added.length === 0) return revoked;
    const kept = { role: input.role, locationIds: added };
    // Only onto the user as the revoke left it: changed since (another admin revoked the role whole), it is theirs.
    try {
      return await this.writer.write(actor, revoked, kept, 'RoleAssigned', revoked.revision, (current) => assignRole(current.roles, input.role, added));
    } catch (error) {
      if ((error as { getStatus?: () => number }).getStatus?.() === 412) return revoked;
      throw error;
    }
  }
}
