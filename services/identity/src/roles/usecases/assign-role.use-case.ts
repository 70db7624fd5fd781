import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { IdentityAccess } from '../../access/identity-access';
import { User } from '../../users/user.schema';
import { UsersRepository } from '../../users/users.repository';
import { RoleChangeInput } from '../dto/role.dto';
import { assignRole } from '../role-grants';
import { RoleChangeChecks } from './role-targets';

const ATTEMPTS = 5;

/**
 * Grants a role on locations (merged with what the user holds). Granting what is already held changes nothing
 * and emits nothing. Company admins may grant to themselves.
 */
@Injectable()
export class AssignRole {
  constructor(
    private readonly access: IdentityAccess,
    private readonly checks: RoleChangeChecks,
    private readonly users: UsersRepository,
  ) {}

  /** `expected`: the user's revision the client read (If-Match); a change since answers 412 instead of merging. */
  async execute(principal: Principal, userId: string, input: RoleChangeInput, expected?: number): Promise<User> {
    const actor = await this.access.actor(principal);
    let user = await this.checks.check(actor, userId, input, 'assign');
    if (expected !== undefined && user.revision !== expected) throw Problems.preconditionFailed(user.revision);
    if (!user.active) throw Problems.conflict(`User ${userId} is deactivated; roles cannot be granted to them.`);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const { roles, changed } = assignRole(user.roles, input.role, input.locationIds);
      if (changed.length === 0) return user;
      const updated = await this.users.change(user, { roles }, 'RoleAssigned', { role: input.role, locationIds: changed, changedBy: actor._id });
      if (updated) return updated;
      // Another change of this user came first: merge into the newer state, unless the client asked for its version.
      user = await this.access.target(actor, userId);
      if (expected !== undefined) throw Problems.preconditionFailed(user.revision);
    }
    throw Problems.busy(`User ${userId} is changing too often; retry.`);
  }
}
