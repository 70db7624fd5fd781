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
    await this.messages.updateOne({ ...this.scope(owner), _id: id, read: false }, { $set: { read: true, readAt: at } });
  }
}
