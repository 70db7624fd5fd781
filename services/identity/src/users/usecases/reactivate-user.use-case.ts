import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { IdentityAccess } from '../../access/identity-access';
import { User } from '../user.schema';
import { UsersRepository } from '../users.repository';

/**
 * Reactivates a deactivated user, undoing DeactivateUser: the same admins may (company admins; a company admin only
 * a Global admin), with If-Match. The user comes back with the roles it kept while deactivated, and `deactivatedBy`
 * is cleared; UserUpdated (`active: true`) tells the other services. Reactivating an active user changes nothing. A
 * user the directory deactivated may be reactivated here too; the next import naming it inactive deactivates it again.
 */
@Injectable()
export class ReactivateUser {
  constructor(
    private readonly access: IdentityAccess,
    private readonly users: UsersRepository,
  ) {}

  async execute(principal: Principal, userId: string, ifMatch: number): Promise<User> {
    const actor = await this.access.actor(principal);
    const user = await this.access.target(actor, userId);
    this.access.requireActivation(actor, user, 'reactivate');
    if (user.revision !== ifMatch) throw Problems.preconditionFailed(user.revision);
    if (user.active) return user;
    const updated = await this.users.change(user, { active: true, deactivatedBy: null }, 'UserUpdated');
    if (updated) return updated;
    const latest = await this.users.find(user.partnerId, user._id);
    // Still at the revision sent: the write missed on who deactivated it (an admin took the directory's deactivation
    // over, not a new revision), which the client cannot see nor send: once more, on the user as stored.
    if (latest && latest.revision === ifMatch && !latest.active) {
      const again = await this.users.change(latest, { active: true, deactivatedBy: null }, 'UserUpdated');
      if (again) return again;
    }
    throw Problems.preconditionFailed((await this.users.find(user.partnerId, user._id))?.revision ?? user.revision);
  }
}
