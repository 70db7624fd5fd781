import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { IdentityAccess } from '../../access/identity-access';
import { ListUsersQuery, toUserView, UserPage } from '../dto/user.dto';
import { UsersRepository } from '../users.repository';

const encode = (key: string) => Buffer.from(key, 'utf8').toString('base64url');
function decode(cursor: string): string {
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!key || encode(key) !== cursor) throw Problems.field('cursor', 'is not a cursor returned by this endpoint');
  return key;
}

/** The partner's users, by email, a page at a time (company admins). */
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
    const page = await this.users.list(actor.partnerId, {
      limit: limit + 1,
      after: query.cursor !== undefined ? decode(query.cursor) : undefined,
      active: query.active,
    });
    const items = page.slice(0, limit);
    return {
      items: items.map(toUserView),
      ...(page.length > limit && { nextCursor: encode(items[items.length - 1].emailKey) }),
    };
  }
}
