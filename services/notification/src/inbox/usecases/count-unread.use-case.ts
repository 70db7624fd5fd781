import { AccessPolicy } from '@lib/access';
import { Principal } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { UnreadCountDto } from '../dto/inbox.dto';
import { InboxRepository } from '../inbox.repository';

@Injectable()
export class CountUnread {
  constructor(private readonly policy: AccessPolicy, private readonly inbox: InboxRepository) {}

  async execute(principal: Principal): Promise<UnreadCountDto> {
    const actor = await this.policy.actor(principal);
    const unread = await this.inbox.unread(actor);
    return { unread: unread.count, ...(unread.atLeast && { unreadAtLeast: true }) };
  }
}
