import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { IdentityAccess } from '../../access/identity-access';
import { isCompanyRole } from '../../roles/role-grants';
import { User } from '../user.schema';
import { UsersRepository } from '../users.repository';

/**
 * Deactivates a user (company admins; only a Global admin deactivates a company admin; nobody deactivates
 * themselves, so a partner always keeps an active Global admin). Needs If-Match with the user's revision.
 * The user keeps its roles (other services see `active: false`); deactivating twice changes nothing.
 */
@Injectable()
export class DeactivateUser {
  constructor(
    private readonly access: IdentityAccess,
    private readonly users: UsersRepository,
  ) {}

  async execute(principal: Principal, userId: string, ifMatch: number): Promise<User> {
    const actor = await this.access.actor(principal);
    const user = await this.access.target(actor, userId);
    this.access.require(actor, 'users.deactivate', 'deactivate users');
    if (user.roles.some((grant) => isCompanyRole(grant.role))) this.access.require(actor, 'users.deactivate-company-admin', 'deactivate a Global or Account admin');
    if (user._id === actor._id) throw Problems.conflict('You cannot deactivate yourself.');
    if (user.revision !== ifMatch) throw Problems.preconditionFailed(user.revision);
    if (!user.active) return user;
    const updated = await this.users.change(user, { active: false }, 'UserDeactivated');
    if (!updated) throw Problems.preconditionFailed((await this.users.find(user.partnerId, user._id))?.revision ?? user.revision);
    return updated;
  }
}
