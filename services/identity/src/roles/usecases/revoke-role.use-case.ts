import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { IdentityAccess } from '../../access/identity-access';
import { User } from '../../users/user.schema';
import { UsersRepository } from '../../users/users.repository';
import { RoleChangeInput } from '../dto/role.dto';
import { HeldOnAllLocationsError, revokeRole } from '../role-grants';
import { RoleChangeChecks } from './role-targets';

const ATTEMPTS = 5;

/** Removes a role from locations (or entirely with `*`). Revoking what is not held changes nothing. */
@Injectable()
export class RevokeRole {
  constructor(
    private readonly access: IdentityAccess,
    private readonly checks: RoleChangeChecks,
    private readonly users: UsersRepository,
  ) {}

  /** `expected`: the user's revision the client read (If-Match); a change since answers 412 instead of merging. */
  async execute(principal: Principal, userId: string, input: RoleChangeInput, expected?: number): Promise<User> {
    const actor = await this.access.actor(principal);
    let user = await this.checks.check(actor, userId, input, 'revoke');
    if (expected !== undefined && user.revision !== expected) throw Problems.preconditionFailed(user.revision);
    if (input.role === 'GLOBAL_ADMIN' && user._id === actor._id) {
      throw Problems.conflict('You cannot revoke your own Global admin role; another Global admin can.');
    }
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      let result;
      try {
        result = revokeRole(user.roles, input.role, input.locationIds);
      } catch (error) {
        if (error instanceof HeldOnAllLocationsError) {
          throw Problems.conflict(error.message, { errors: [{ field: 'locationIds', message: error.message }] });
        }
        throw error;
      }
      if (result.changed.length === 0) return user;
      const updated = await this.users.change(user, { roles: result.roles }, 'RoleRevoked', {
        role: input.role,
        locationIds: result.changed,
        changedBy: actor._id,
      });
      if (updated) return updated;
      // Another change of this user came first: merge into the newer state, unless the client asked for its version.
      user = await this.access.target(actor, userId);
      if (expected !== undefined) throw Problems.preconditionFailed(user.revision);
    }
    throw Problems.busy(`User ${userId} is changing too often; retry.`);
  }
}
