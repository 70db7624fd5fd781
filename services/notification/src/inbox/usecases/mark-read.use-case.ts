import { AccessPolicy } from '@lib/access';
import { Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InboxEntryDto } from '../dto/inbox.dto';
import { InboxRepository } from '../inbox.repository';

/**
 * Marks one of the caller's own entries read (idempotent). Anyone else's entry is 404, as if it did not exist, and so is
 * one of theirs they may no longer see (the role it was addressed for was taken away, InboxRepository).
 */
@Injectable()
export class MarkRead {
  constructor(private readonly policy: AccessPolicy, private readonly inbox: InboxRepository) {}

  async execute(principal: Principal, messageId: string): Promise<InboxEntryDto> {
    const actor = await this.policy.actor(principal);
    const entry = await this.inbox.markRead(actor, messageId, new Date());
    if (!entry) throw Problems.notFound(`Inbox message ${messageId}`);
    return InboxEntryDto.from(entry);
  }
}
