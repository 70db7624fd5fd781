import { Principal } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { IdentityAccess } from '../../access/identity-access';
import { User } from '../user.schema';

/** One user of the caller's partner (company admins, or the user themselves); another partner's user is 404. */
@Injectable()
export class GetUser {
  constructor(private readonly access: IdentityAccess) {}

  async execute(principal: Principal, userId: string): Promise<User> {
    const actor = await this.access.actor(principal);
    const user = await this.access.target(actor, userId);
    if (user._id !== actor._id) this.access.require(actor, 'users.read', 'read other users');
    return user;
  }

  /** The signed-in user. */
  me(principal: Principal): Promise<User> {
    return this.access.actor(principal);
  }
}
