import { AccessPolicy } from '@lib/access';
import { Principal } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { INBOX_PAGE_SIZE, InboxEntryDto, InboxPageDto, InboxQuery } from '../dto/inbox.dto';
import { INBOX_ORDER, InboxRepository } from '../inbox.repository';

@Injectable()
export class ListInbox {
  constructor(private readonly policy: AccessPolicy, private readonly inbox: InboxRepository) {}

  /** A page, newest first (`limit`, `cursor`), and how many entries the inbox holds. */
  async execute(principal: Principal, query: InboxQuery): Promise<InboxPageDto> {
    const after = INBOX_ORDER.after(query.cursor); // a bad cursor is a 400 whoever asks
    const actor = await this.policy.actor(principal);
    const limit = query.limit ?? INBOX_PAGE_SIZE;
    const { rows, total } = await this.inbox.page(actor, after, limit + 1);
    const page = INBOX_ORDER.page(rows, limit);
    return { ...page, items: page.items.map(InboxEntryDto.from), total: total.count, ...(total.atLeast && { totalAtLeast: true }) };
  }
}
