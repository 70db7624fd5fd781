import { deterministicId } from '@lib/contracts';
import { IdempotentRequest, ownCreation, Principal, Problems } from '@lib/platform';
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

  /**
   * `idempotency`: the request's key and fingerprint. The user's id derives from the key and the caller, so a retry of a
   * create whose answer was lost (a crash after the write) answers the user it made, not 409 on its own email; another
   * request under the same key (its stored answer gone) gets 422, as the interceptor answers one while it is kept.
   */
  async execute(principal: Principal, input: CreateUserInput, idempotency?: IdempotentRequest): Promise<User> {
    const actor = await this.access.actor(principal);
    this.access.require(actor, 'users.create', 'create users');
    if (input.companyRole) this.access.require(actor, 'users.create-company-admin', `create a user with the ${input.companyRole} role`);
    const userId = idempotency ? deterministicId('user', actor.partnerId, actor._id, idempotency.key) : randomUUID();
    try {
      return await this.users.create({
        userId,
        partnerId: actor.partnerId,
        email: input.email,
        displayName: input.displayName.trim(),
        roles: input.companyRole ? [{ role: input.companyRole, locationIds: ['*'] }] : [],
        ...(idempotency && { createdByRequest: idempotency.fingerprint }),
      });
    } catch (error) {
      const made = ownCreation(error instanceof DuplicateUserError && idempotency ? await this.users.find(actor.partnerId, userId) : null, idempotency);
      if (made) return made;
      if (error instanceof DuplicateUserError) {
        throw Problems.conflict(error.message, { errors: [{ field: 'email', message: 'is already used by a user of this partner' }] });
      }
      throw error;
    }
  }
}
