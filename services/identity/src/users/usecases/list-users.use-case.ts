import { Principal } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { IdentityAccess } from '../../access/identity-access';
import { ListUsersQuery, toUserView, UserPage } from '../dto/user.dto';
import { USER_ORDER, UsersRepository } from '../users.repository';

/**
 * The partner's users, by email, a page at a time (company admins). The cursor names this list (USER_ORDER), so a
 * made-up one or another list's is 400 naming `cursor`.
 */
@Injectable()
export class ListUsers {
  constructor(
    private readonly access: IdentityAccess,
    private readonly users: UsersRepository,
  ) {}

  async execute(principal: Principal, query: ListUsersQuery): Promise<UserPage> {
    const actor = await this.access.actor(principal);
    this.access.require(actor, 'users.list', 'list users');
    const limit = query.limit ?? 50;
    const rows = await this.users.list(actor.partnerId, { after: USER_ORDER.after(query.cursor), count: limit + 1, active: query.active });
    const page = USER_ORDER.page(rows, limit);
    return { items: page.items.map(toUserView), ...(page.nextCursor !== undefined && { nextCursor: page.nextCursor }) };
  }
}
