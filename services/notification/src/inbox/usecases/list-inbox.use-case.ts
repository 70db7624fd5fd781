import { AccessPolicy } from '@lib/access';
import { Principal } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InboxEntryDto, InboxPageDto, InboxQuery } from '../dto/inbox.dto';
import { InboxRepository } from '../inbox.repository';

@Injectable()
export class ListInboxUseCase {
  constructor(private readonly policy: AccessPolicy, private readonly inbox: InboxRepository) {}

  async execute(principal: Principal, query: InboxQuery): Promise<InboxPageDto> {
    const actor = await this.policy.actor(principal);
    const page = query.page ?? 1;
    const pageSize = query.pageSize ?? 20;
    const { items, total } = await this.inbox.page(actor, (page - 1) * pageSize, pageSize);
    return { items: items.map(InboxEntryDto.from), page, pageSize, total };
  }
}
