import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { IdentityAccess } from '../../access/identity-access';
import { GlobalAdminKeeper } from '../global-admin-keeper';
import { BY_DIRECTORY } from '../scim';
import { User } from '../user.schema';
import { UsersRepository } from '../users.repository';

/**
 * Deactivates a user (company admins; only a Global admin deactivates a company admin; nobody deactivates
 * themselves, and never the last active Global admin of the partner: GlobalAdminKeeper). Needs If-Match with
 * the user's revision. The user keeps its roles (other services see `active: false`) and records who deactivated
 * it, so a directory import does not reactivate it; deactivating twice changes nothing.
 */
@Injectable()
export class DeactivateUser {
  constructor(
    private readonly access: IdentityAccess,
    private readonly users: UsersRepository,
    private readonly globalAdmins: GlobalAdminKeeper,
  ) {}

  async execute(principal: Principal, userId: string, ifMatch: number): Promise<User> {
    const actor = await this.access.actor(principal);
    const user = await this.access.target(actor, userId);
    this.access.requireActivation(actor, user, 'deactivate');
    if (user._id === actor._id) throw Problems.conflict('You cannot deactivate yourself.');
    if (user.revision !== ifMatch) throw Problems.preconditionFailed(user.revision);
    if (!user.active) {
      // Deactivated by the directory already: now by an admin too, so that the directory listing it active again
      // (a rehire, a mistake) does not reactivate it. Not a change others see: no new revision, no event.
      if (user.deactivatedBy !== BY_DIRECTORY) return user;
      const taken = await this.users.takeOverDeactivation(user, actor._id);
      if (taken) return taken;
      // Another admin took it over first (no new revision): what this request asked for, done. Changed since it was
      // read (reactivated by an import meanwhile): 412, as for an active user, not the old copy.
      const now = await this.users.find(user.partnerId, user._id);
      if (now && now.revision === ifMatch && !now.active && now.deactivatedBy !== BY_DIRECTORY) return now;
      throw Problems.preconditionFailed(now?.revision ?? user.revision);
    }
    // The write is conditional on the revision read: a role granted meanwhile makes it fail (412), so a user read
    // without GLOBAL_ADMIN cannot lose it here.
    const deactivate = async (inTime?: () => void) => {
      inTime?.();
      const updated = await this.users.change(user, { active: false, deactivatedBy: actor._id }, 'UserDeactivated');
      if (!updated) throw Problems.preconditionFailed((await this.users.find(user.partnerId, user._id))?.revision ?? user.revision);
      return updated;
    };
    return user.roles.some((grant) => grant.role === 'GLOBAL_ADMIN') ? this.globalAdmins.removing(user.partnerId, user._id, actor, deactivate) : deactivate();
  }
}
