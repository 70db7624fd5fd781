import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { IdentityAccess } from '../../access/identity-access';
import { CreateUserInput } from '../dto/user.dto';
import { User } from '../user.schema';
import { DuplicateUserError, UsersRepository } from '../users.repository';

/** A Global or Account admin adds a user to their partner; only a Global admin may add another company admin. */
@Injectable()
export class CreateUser {
  constructor(
    private readonly access: IdentityAccess,
    private readonly users: UsersRepository,
  ) {}

  async execute(principal: Principal, input: CreateUserInput): Promise<User> {
    const actor = await this.access.actor(principal);
    this.access.require(actor, 'users.create', 'create users');
    if (input.companyRole) this.access.require(actor, 'users.create-company-admin', `create a user with the ${input.companyRole} role`);
    try {
      return await this.users.create({
        userId: randomUUID(),
        partnerId: actor.partnerId,
        email: input.email,
        displayName: input.displayName.trim(),
        roles: input.companyRole ? [{ role: input.companyRole, locationIds: ['*'] }] : [],
      });
    } catch (error) {
      if (error instanceof DuplicateUserError) {
        throw Problems.conflict(error.message, { errors: [{ field: 'email', message: 'is already used by a user of this partner' }] });
      }
      throw error;
    }
  }
}
