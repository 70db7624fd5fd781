import { ALL_LOCATIONS } from '@lib/contracts';
import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { IdentityAccess } from '../../access/identity-access';
import { GlobalAdminKeeper } from '../../users/global-admin-keeper';
import { User } from '../../users/user.schema';
import { RoleChangeInput } from '../dto/role.dto';
import { isCompanyRole, revokeRole } from '../role-grants';
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
    const partnerLocations = isCompanyRole(input.role) || input.locationIds.includes(ALL_LOCATIONS) ? [] : await this.checks.ownLocations(actor.partnerId);
    const revoke = (inTime?: () => void) =>
      this.writer.write(actor, user, input, 'RoleRevoked', expected, (current) => revokeRole(current.roles, input.role, input.locationIds, partnerLocations), inTime);
    // Only a user read with GLOBAL_ADMIN can lose it: the writer re-reads only after a write it attempted.
    const removesGlobalAdmin = input.role === 'GLOBAL_ADMIN' && user.roles.some((grant) => grant.role === 'GLOBAL_ADMIN');
    return removesGlobalAdmin ? this.globalAdmins.removing(user.partnerId, user._id, actor, revoke) : revoke();
  }
}
