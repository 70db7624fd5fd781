import { findByIds } from '@lib/messaging';
import { CONFIG, Keyset } from '@lib/platform';
import { Inject, Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { FilterQuery, Model } from 'mongoose';
import type { NotificationConfig } from '../config';
import { Audience, Message, messageId } from '../messages/message.schema';
import { inAudience } from '../recipients/recipient-directory';
import { bankProfileAudience, InboxViewer, PROFILE_ACTION_TEMPLATE, visibleTo } from './inbox-visibility';

/**
 * Whose inbox, and what they may see in it: every query needs the user and the partner, so one user's or one
 * partner's entries can never leak into another's, and the roles the recipient view gives them now, so an entry
 * about a location they no longer hold the role on is not shown (SPEC 1, Roles 4), as its email would not be sent.
 */
export type InboxOwner = InboxViewer;

export type InboxEntry = Pick<
  Message,
  '_id' | 'template' | 'subject' | 'text' | 'link' | 'locationId' | 'causationEventType' | 'read' | 'readAt' | 'createdAt'
>;

const OUTBOX_DRAIN_WAIT_MS = 3_000;

const FIELDS = '_id template subject text link locationId causationEventType read readAt createdAt';

/**
 * The order of GET /v1/inbox: newest first, ties (one event, same instant) by id, descending too; the fields of the
 * { userId, partnerId, channel, createdAt: -1, _id: -1 } index. A page starts after the last entry of the one before,
 * so entries arriving (at the top) or leaving (a role revoked) meanwhile neither repeat nor push others out of the walk.
 */
export const INBOX_ORDER = new Keyset<InboxEntry>('inbox', ['createdAt', '_id'], { descending: ['createdAt', '_id'], dates: ['createdAt'] });

/** A count of entries up to the configured limit: `atLeast` when there are more (the count then is the limit). */
export interface BoundedCount {
  count: number;
  atLeast: boolean;
}

@Injectable()
export class InboxRepository {
  constructor(
    @InjectModel(Message.name) private readonly messages: Model<Message>,
    @Inject(CONFIG) private readonly config: NotificationConfig,
  ) {}

  /**
   * The owner's entries matching `filter`, counted up to NOTIFY_INBOX_COUNT_LIMIT: the scope's audience conditions are
   * no index's, so every entry counted is read; a user given a role on every location of a large partner gathers tens
   * of thousands a year, and each page and unread badge would read them all.
   */
  private async countUpToLimit(filter: FilterQuery<Message>): Promise<BoundedCount> {
    const limit = this.config.NOTIFY_INBOX_COUNT_LIMIT;
    const count = await this.messages.countDocuments(filter, { limit: limit + 1 });
    return count > limit ? { count: limit, atLeast: true } : { count, atLeast: false };
  }

  private own(owner: InboxOwner) {
    return { userId: owner.userId, partnerId: owner.partnerId, channel: 'INBOX' as const };
  }

  /** The owner's entries they may see now (`visibleTo`): one filter, so the page, its total and the unread count agree. */
  private async scope(owner: InboxOwner): Promise<FilterQuery<Message>> {
    return { ...this.own(owner), ...visibleTo(owner, await this.hiddenBankProfileActions(owner)) };
  }

  /**
   * The owner's bank-profile actions they may no longer see. Such an entry records neither a location nor an
   * audience, but the email created with it (same event and recipient) records the locations the profile serves
   * (`audience`): checked as that email is before it is sent. Without one (an email written before audiences were
   * recorded), any Incentives admin role will do, as for a profile serving every location. Entries that record their
   * own audience are left to the query.
   */
  private async hiddenBankProfileActions(owner: InboxOwner): Promise<string[]> {
    const entries = await this.messages
      .find({ ...this.own(owner), template: PROFILE_ACTION_TEMPLATE, locationId: { $exists: false }, audience: { $exists: false } })
      .select('_id causationEventId')
      .lean<Array<{ _id: string; causationEventId: string }>>();
    if (entries.length === 0) return [];
    const twin = (entry: { causationEventId: string }) => messageId(entry.causationEventId, owner.userId, 'EMAIL');
    const emails = await findByIds<{ audience?: Audience }>(this.messages.collection as never, entries.map(twin), { audience: 1 });
    return entries.filter((entry) => !inAudience(owner, bankProfileAudience(emails.get(twin(entry))))).map((entry) => entry._id);
  }

  /** `count` entries in INBOX_ORDER after the filter `after` (INBOX_ORDER.after), and how many the owner may see. */
  async page(owner: InboxOwner, after: Record<string, unknown>, count: number): Promise<{ rows: InboxEntry[]; total: BoundedCount }> {
    const scope = await this.scope(owner);
    // `after` brings an $or; the scope's own conditions may too, so the two are put side by side under $and.
    const [rows, total] = await Promise.all([
      this.messages.find({ $and: [scope, after] }).select(FIELDS).sort(INBOX_ORDER.sort).limit(count).lean(),
      this.countUpToLimit(scope),
    ]);
    return { rows: rows as InboxEntry[], total };
  }

  async unread(owner: InboxOwner): Promise<BoundedCount> {
    return this.countUpToLimit({ ...(await this.scope(owner)), read: false });
  }

  /**
   * Marks the entry read once (reading it again keeps the first readAt) and answers it as it is now; null when it is
   * not one the owner may see now (another user's, another partner's, or out of their roles: `scope`, read once).
   */
  async markRead(owner: InboxOwner, id: string, at: Date): Promise<InboxEntry | null> {
    const entry = { ...(await this.scope(owner)), _id: id };
    if (!(await this.messages.exists(entry))) return null;
    await this.outboxDrained(id);
    await this.messages.updateOne({ ...entry, read: false }, { $set: { read: true, readAt: at } });
    return (await this.messages.findOne(entry).select(FIELDS).lean()) as InboxEntry | null;
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
