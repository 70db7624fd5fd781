import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { Message } from '../messages/message.schema';

/** Whose inbox: every query needs both, so one user's or one partner's entries can never leak into another's. */
export interface InboxOwner {
  userId: string;
  partnerId: string;
}

export type InboxEntry = Pick<
  Message,
  '_id' | 'template' | 'subject' | 'text' | 'link' | 'locationId' | 'causationEventType' | 'read' | 'readAt' | 'createdAt'
>;

const OUTBOX_DRAIN_WAIT_MS = 3_000;

const FIELDS = '_id template subject text link locationId causationEventType read readAt createdAt';

@Injectable()
export class InboxRepository {
  constructor(@InjectModel(Message.name) private readonly messages: Model<Message>) {}

  private scope(owner: InboxOwner) {
    return { userId: owner.userId, partnerId: owner.partnerId, channel: 'INBOX' as const };
  }

  /** Newest first; ties (one event, same instant) broken by id so pages never overlap. */
  async page(owner: InboxOwner, skip: number, limit: number): Promise<{ items: InboxEntry[]; total: number }> {
    const [items, total] = await Promise.all([
      this.messages.find(this.scope(owner)).select(FIELDS).sort({ createdAt: -1, _id: -1 }).skip(skip).limit(limit).lean(),
      this.messages.countDocuments(this.scope(owner)),
    ]);
    return { items: items as InboxEntry[], total };
  }

  async unread(owner: InboxOwner): Promise<number> {
    return this.messages.countDocuments({ ...this.scope(owner), read: false });
  }

  async find(owner: InboxOwner, id: string): Promise<InboxEntry | null> {
    return (await this.messages.findOne({ ...this.scope(owner), _id: id }).select(FIELDS).lean()) as InboxEntry | null;
  }

  /** Marks the entry read once; reading it again keeps the first readAt. */
  async markRead(owner: InboxOwner, id: string, at: Date): Promise<void> {
    await this.outboxDrained(id);
    await this.messages.updateOne({ ...this.scope(owner), _id: id, read: false }, { $set: { read: true, readAt: at } });
  }

  /**
   * Waits (bounded) until the relay has published this entry's NotificationSent and removed it. On the local
   * FerretDB an update is a whole-document read-modify-write, and one running at the same time as the relay's
   * `$pullAll` could lose the `read` flag. On MongoDB the wait is simply short (the outbox drains in milliseconds).
   */
  private async outboxDrained(id: string): Promise<void> {
    const deadline = Date.now() + OUTBOX_DRAIN_WAIT_MS;
    while (Date.now() < deadline) {
      if (!(await this.messages.exists({ _id: id, 'outbox.0': { $exists: true } }))) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
