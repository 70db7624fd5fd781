import { IDEMPOTENT_REPLAY_CHECK, IdempotentReplayCheck, Principal, Problems } from '@lib/platform';
import { Injectable, Provider } from '@nestjs/common';
import { isCompanyRole } from '../roles/role-grants';
import { User } from '../users/user.schema';
import { UsersRepository } from '../users/users.repository';
import { can, deniedMessage, Permission } from './permissions';

/** The signed-in user as identity knows them: identity authorizes from its own users and roles. */
export type Actor = User;

@Injectable()
export class IdentityAccess {
  constructor(private readonly users: UsersRepository) {}

  /** 403 when the token's user is unknown in its partner or deactivated. */
  async actor(principal: Principal): Promise<Actor> {
    const user = await this.users.find(principal.partnerId, principal.userId);
    if (!user) throw Problems.forbidden('Your account is not known in this partner. Ask your Global admin to add you.');
    if (!user.active) throw Problems.forbidden('Your account is deactivated.');
    return user;
  }

  require(actor: Actor, permission: Permission, action: string): void {
    if (!can(actor.roles, permission)) throw Problems.forbidden(deniedMessage(permission, action));
  }

  /**
   * Deactivating or reactivating `user` (`verb`): a company admin may, and only a Global admin does it to a Global or
   * Account admin.
   */
  requireActivation(actor: Actor, user: User, verb: 'deactivate' | 'reactivate'): void {
    this.require(actor, 'users.deactivate', `${verb} users`);
    if (user.roles.some((grant) => isCompanyRole(grant.role))) this.require(actor, 'users.deactivate-company-admin', `${verb} a Global or Account admin`);
  }

  /** Tenancy first: a user of another partner (or none) is 404, never 403. */
  async target(actor: Actor, userId: string): Promise<User> {
    const user = await this.users.find(actor.partnerId, userId);
    if (!user) throw Problems.notFound(`User ${userId}`);
    return user;
  }
}

/**
 * A stored Idempotency-Key answer is sent again only to a caller who is still an active user of their partner (the
 * 403 of `actor`), as every other call answers a deactivated user. Operators (no user) are not asked.
 */
export const identityReplayCheck: Provider = {
  provide: IDEMPOTENT_REPLAY_CHECK,
  inject: [IdentityAccess],
  useFactory: (access: IdentityAccess): IdempotentReplayCheck => async (principal: Principal) => {
    await access.actor(principal);
  },
};
