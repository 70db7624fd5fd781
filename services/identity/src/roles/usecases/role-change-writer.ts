import { Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { Actor, IdentityAccess } from '../../access/identity-access';
import { User } from '../../users/user.schema';
import { UsersRepository } from '../../users/users.repository';
import { RoleChangeInput } from '../dto/role.dto';
import { RoleChangeResult } from '../role-grants';

const ATTEMPTS = 5;

/**
 * The write shared by assigning and revoking: `compute` turns the user as read into its new roles, and the result
 * is stored only if the user is still at that revision. When another change of the user came first, it is
 * computed again from the newer state (merged), unless the client sent If-Match (`expected`): then 412.
 * `compute` runs on every attempt, so its checks (and its refusals) see the user as it is written. `beforeWrite`
 * runs right before each write (GlobalAdminKeeper's check that its lease still holds).
 */
@Injectable()
export class RoleChangeWriter {
  constructor(
    private readonly access: IdentityAccess,
    private readonly users: UsersRepository,
  ) {}

  async write(
    actor: Actor,
    user: User,
    input: RoleChangeInput,
    type: 'RoleAssigned' | 'RoleRevoked',
    expected: number | undefined,
    compute: (user: User) => RoleChangeResult,
    beforeWrite: () => void = () => undefined,
  ): Promise<User> {
    if (expected !== undefined && user.revision !== expected) throw Problems.preconditionFailed(user.revision);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const { roles, changed } = compute(user);
      if (changed.length === 0) return user;
      beforeWrite();
      const updated = await this.users.change(user, { roles }, type, { role: input.role, locationIds: changed, changedBy: actor._id });
      if (updated) return updated;
      user = await this.access.target(actor, user._id);
      // Still at the revision sent: the write missed on who deactivated it (taken over by an admin, no new revision),
      // which the client cannot see nor send: computed again, as without If-Match.
      if (expected !== undefined && user.revision !== expected) throw Problems.preconditionFailed(user.revision);
    }
    throw Problems.busy(`User ${user._id} is changing too often; retry.`);
  }
}
