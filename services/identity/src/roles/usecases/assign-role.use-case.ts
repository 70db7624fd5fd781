import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { IdentityAccess } from '../../access/identity-access';
import { User } from '../../users/user.schema';
import { RoleChangeInput } from '../dto/role.dto';
import { assignRole } from '../role-grants';
import { RoleChangeWriter } from './role-change-writer';
import { RoleChangeChecks } from './role-targets';

/**
 * Grants a role on locations (merged with what the user holds). Granting what is already held changes nothing
 * and emits nothing. Company admins may grant to themselves. A deactivated user gets no role (409), also when
 * deactivated while this request runs.
 */
@Injectable()
export class AssignRole {
  constructor(
    private readonly access: IdentityAccess,
    private readonly checks: RoleChangeChecks,
    private readonly writer: RoleChangeWriter,
  ) {}

  /** `expected`: the user's revision the client read (If-Match); a change since answers 412 instead of merging. */
  async execute(principal: Principal, userId: string, input: RoleChangeInput, expected?: number): Promise<User> {
    const actor = await this.access.actor(principal);
    const user = await this.checks.check(actor, userId, input, 'assign');
    return this.writer.write(actor, user, input, 'RoleAssigned', expected, (current) => {
      if (!current.active) throw Problems.conflict(`User ${userId} is deactivated; roles cannot be granted to them.`);
      return assignRole(current.roles, input.role, input.locationIds);
    });
  }
}
