import { bulkWriteBatcher, EventOutbox, PendingOutboxes, pushOutbox } from '@lib/messaging';
import { CONFIG } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { randomUUID } from 'node:crypto';
import type { NotificationConfig } from '../config';
import { InvitationProgressRepository } from '../invitations/invitation-progress.repository';
import { DIGEST_TEMPLATE, Message, messageId } from '../messages/message.schema';
import { outcomeEvent } from '../messages/notification-events';
import { RecipientDirectory } from '../recipients/recipient-directory';
import { RenderedMessage, TemplateRenderer } from '../rendering/template-renderer';

/** The most invitations a digest email lists one by one; it counts the others, each in the inbox. */
export const DIGEST_LISTED = 50;

/** A digest is not joined this close to its sending (a quarter of the window, at most 5 s): a later one is opened. */
const JOIN_MARGIN_MS = 5_000;

/** A digest as the gate hands it out: the email's id and when it is sent. */
export interface OpenDigest {
  id: string;
  sendAt: Date;
}

/** An invitation email the digest took, as it reads it (no rendered parts). */
export type GatheredEmail = Pick<
  Message,
  | '_id'
  | 'partnerId'
  | 'locationId'
  | 'userId'
  | 'email'
  | 'displayName'
  | 'audience'
  | 'invitation'
  | 'digest'
  | 'sendBefore'
  | 'link'
  | 'channel'
  | 'template'
  | 'causationEventId'
  | 'causationEventType'
  | 'correlationId'
>;

/**
 * One email for many invitations to one recipient. A user given the Incentives admin role on every location (`*`) of
 * a large partner is delivered each open invitation of the partner (InvitationDelivered, one event each): thousands of
 * emails in minutes. So a recipient's first NOTIFY_DIGEST_AFTER invitation emails are sent one by one, as always; the
 * ones that follow while they keep coming (less than NOTIFY_DIGEST_WINDOW_MS apart) are gathered: each is written HELD,
 * and one digest email, sent a window after the first it gathered, lists them (the first DIGEST_LISTED; the others are
 * counted, each is in the inbox as always). Each gathered email still ends with its own NotificationSent (carrying the
 * digest's Message-ID), or is CANCELLED on its own when its invitation was revoked before the digest went out. Inbox
 * entries are never gathered.
 *
 * The count is this instance's (the invitations topic is keyed by location, so a partner's events may be spread over
 * the instances): with several instances, a recipient may get up to NOTIFY_DIGEST_AFTER emails one by one from each
 * before theirs gather. A restart starts counting again.
 */
@Injectable()
export class InvitationDigests {
  private readonly logger = new Logger(InvitationDigests.name);
  /** Per recipient (partner and user): when their last invitation email came, how many went one by one, the open digest. */
  private readonly recipients = new Map<string, { last: number; alone: number; digest?: { id: string; sendAt: number } }>();
  private lastSweep = 0;

  constructor(
    @InjectModel(Message.name) private readonly messages: Model<Message>,
    private readonly outbox: EventOutbox,
    private readonly directory: RecipientDirectory,
    private readonly invitations: InvitationProgressRepository,
    private readonly renderer: TemplateRenderer,
    @Inject(CONFIG)
    private readonly config: Pick<NotificationConfig, 'NOTIFY_DIGEST_AFTER' | 'NOTIFY_DIGEST_WINDOW_MS' | 'MAIL_FROM_NAME' | 'PORTAL_BASE_URL'>,
  ) {}

  /**
   * The digest an invitation email to this recipient at `at` joins, or null when it is sent by itself: one of their
   * first NOTIFY_DIGEST_AFTER since they were last sent none for a window. A digest about to be sent is not joined.
   */
  gather(userId: string, partnerId: string, at: Date): OpenDigest | null {
    if (this.config.NOTIFY_DIGEST_AFTER === 0) return null;
    const window = this.config.NOTIFY_DIGEST_WINDOW_MS;
    const now = at.getTime();
    this.sweep(now);
    const key = `${partnerId}\u0000${userId}`;
    let recipient = this.recipients.get(key);
    if (!recipient || now - recipient.last >= window) {
      recipient = { last: now, alone: 0 };
      this.recipients.set(key, recipient);
    }
    recipient.last = now;
    if (recipient.alone < this.config.NOTIFY_DIGEST_AFTER) {
      recipient.alone += 1;
      return null;
    }
    if (!recipient.digest || now >= recipient.digest.sendAt - Math.min(JOIN_MARGIN_MS, window / 4)) {
      recipient.digest = { id: messageId(`${DIGEST_TEMPLATE}-${randomUUID()}`, userId, 'EMAIL'), sendAt: now + window };
    }
    return { id: recipient.digest.id, sendAt: new Date(recipient.digest.sendAt) };
  }

  /** Forgets recipients quiet for a window (at most once a window): the map holds those of the last window only. */
  private sweep(now: number): void {
    const window = this.config.NOTIFY_DIGEST_WINDOW_MS;
    if (now - this.lastSweep < window) return;
    this.lastSweep = now;
    for (const [key, recipient] of this.recipients) if (now - recipient.last >= window) this.recipients.delete(key);
  }

  /**
   * The digest email, written (if absent) before the first email it gathers: PENDING until `sendAt`, its parts rendered
   * when it is sent (what it lists is known then). Its causation is the first gathered email's event.
   */
  async open(digest: OpenDigest, first: Omit<Message, '_id'>): Promise<void> {
    const fields: Omit<Message, '_id'> = {
      channel: 'EMAIL',
      partnerId: first.partnerId,
      userId: first.userId,
      email: first.email,
      ...(first.displayName !== undefined && { displayName: first.displayName }),
      // Any location: the recipient is checked again for each invitation it lists.
      ...(first.audience && { audience: { roles: first.audience.roles } }),
      causationEventId: first.causationEventId,
      causationEventType: first.causationEventType,
      correlationId: first.correlationId,
      template: DIGEST_TEMPLATE,
      subject: 'Partner Incentive Enrollment Invitations',
      text: '(rendered when it is sent)',
      status: 'PENDING',
      nextAttemptAt: digest.sendAt,
      attempts: 0,
      read: false,
      createdAt: first.createdAt,
    };
    await bulkWriteBatcher(this.messages.collection as never).write({
      updateOne: { filter: { _id: digest.id }, update: { $setOnInsert: fields }, upsert: true },
    } as never);
  }

  /**
   * Gathered emails whose digest went out (or ended) before they were written (an event handled late, a handler held
   * up past the digest's time), or never was written, sent by themselves instead: PENDING, due now. Guarded by HELD:
   * one the digest took meanwhile stays its. Returns the ids released.
   */
  async releaseLate(emails: Array<{ _id: string; digest?: { id: string } }>, now = new Date()): Promise<string[]> {
    const gathered = emails.filter((e) => e.digest);
    if (gathered.length === 0) return [];
    const digestIds = [...new Set(gathered.map((e) => e.digest!.id))];
    const open = new Set(
      (await this.messages.collection.find({ _id: { $in: digestIds } } as never, { projection: { status: 1 } }).toArray())
        .filter((d) => d.status === 'PENDING' || d.status === 'RETRY')
        .map((d) => d._id as unknown as string),
    );
    const late = gathered.filter((e) => !open.has(e.digest!.id));
    if (late.length === 0) return [];
    const released: string[] = [];
    for (const email of late) {
      const { modifiedCount } = await this.messages.collection.updateOne(
        { _id: email._id as never, status: 'HELD' },
        { $set: { status: 'PENDING', nextAttemptAt: now }, $unset: { digest: 1 } },
      );
      if (modifiedCount === 1) released.push(email._id);
    }
    if (released.length) this.logger.log(`${released.length} invitation email(s) came after their digest was sent: sent by themselves`);
    return released;
  }

  /**
   * What the claimed digest `digest` sends: the emails it gathered that still hold (taken: DIGESTING, so that none is
   * released to go by itself as well), each checked as a waiting email is (its invitation revoked since, its year over,
   * the recipient without the role on its location: CANCELLED with the reason). Null when none holds: nothing to send.
   * One alone is sent as its own email; more as the digest template lists them.
   */
  async compose(
    digest: Pick<Message, '_id' | 'userId' | 'partnerId' | 'email' | 'displayName'>,
    now = new Date(),
  ): Promise<{ content: Pick<RenderedMessage, 'subject' | 'text' | 'html'> & { link?: string }; emails: GatheredEmail[] } | null> {
    const filter = { 'digest.id': digest._id, status: { $in: ['HELD', 'DIGESTING'] } };
    await this.messages.collection.updateMany(filter as never, { $set: { status: 'DIGESTING' } });
    const taken = (await this.messages.collection
      .find({ 'digest.id': digest._id, status: 'DIGESTING' } as never, { projection: { html: 0, text: 0, subject: 0, outbox: 0 } })
      .sort({ createdAt: 1, _id: 1 })
      .toArray()) as unknown as GatheredEmail[];
    const verdicts = await Promise.all(taken.map((email) => this.whyNot(email, now)));
    const dropped = taken.flatMap((email, i) => (verdicts[i] ? [{ email, reason: verdicts[i]! }] : []));
    if (dropped.length) await this.cancelEach(dropped);
    const emails = taken.filter((_, i) => !verdicts[i]);
    if (emails.length === 0) return null;
    if (emails.length === 1) {
      const whole = await this.messages.collection.findOne({ _id: emails[0]._id as never }, { projection: { subject: 1, text: 1, html: 1, link: 1 } });
      if (!whole) return null;
      return { content: { subject: whole.subject, text: whole.text, html: whole.html, link: whole.link }, emails };
    }
    const rendered = this.renderer.render(DIGEST_TEMPLATE, {
      count: emails.length,
      invitations: emails.slice(0, DIGEST_LISTED).map((email) => ({ ...email.digest, link: email.link })),
      more: Math.max(0, emails.length - DIGEST_LISTED),
      link: `${this.config.PORTAL_BASE_URL.replace(/\/+$/, '')}/incentives`,
      senderName: this.config.MAIL_FROM_NAME,
      recipientName: digest.displayName || digest.email,
    });
    return { content: { subject: rendered.subject, text: rendered.text, html: rendered.html }, emails };
  }

  /** Why a gathered email is no longer sent, or null: as a waiting email is checked (DeliverEmail). */
  private async whyNot(email: GatheredEmail, now: Date): Promise<string | null> {
    const withdrawn = await this.invitations.withdrawal(email);
    if (withdrawn) return withdrawn;
    if (email.sendBefore && now.getTime() >= +new Date(email.sendBefore)) return 'its moment passed: what it asks was due before its fiscal year ended';
    const recipient = await this.directory.currentAddress(email.userId, email);
    return 'cancel' in recipient ? recipient.cancel : null;
  }

  /** Gathered emails that are not sent: CANCELLED, each with its reason (no event, as for any cancelled email). */
  private async cancelEach(dropped: Array<{ email: GatheredEmail; reason: string }>): Promise<void> {
    await this.messages.collection.bulkWrite(
      dropped.map(({ email, reason }) => ({
        updateOne: { filter: { _id: email._id as never, status: 'DIGESTING' }, update: { $set: { status: 'CANCELLED', lastError: reason } } },
      })),
      { ordered: false },
    );
  }

  /** The digest will not be sent: the emails it gathered neither (CANCELLED with its reason). */
  async cancelAll(digestId: string, reason: string): Promise<void> {
    await this.messages.collection.updateMany({ 'digest.id': digestId, status: { $in: ['HELD', 'DIGESTING'] } } as never, {
      $set: { status: 'CANCELLED', lastError: `its digest email was cancelled: ${reason}` },
    });
  }

  /**
   * The digest's outcome, on each email it took: SENT within it (`sentIn`), or FAILED with its error, each with its
   * NotificationSent / NotificationFailed carrying the digest's Message-ID. Written before the digest's own outcome:
   * a crash in between leaves the digest to be claimed again, and it then finds nothing left to send.
   */
  async settle(
    digest: Pick<Message, '_id' | 'email' | 'displayName'>,
    emails: GatheredEmail[],
    outcome: { attempts: number; error?: string; smtpResponse?: string },
  ): Promise<void> {
    const at = new Date();
    const ids = emails.map((e) => e._id);
    const address = { email: digest.email, ...(digest.displayName !== undefined && { displayName: digest.displayName }) };
    const write = () =>
      this.messages.collection.bulkWrite(
        emails.map((email) => {
          const told = { ...email, ...address };
          const set =
            outcome.error === undefined
              ? { status: 'SENT', sentAt: at, sentIn: digest._id, ...address, ...(outcome.smtpResponse && { smtpResponse: outcome.smtpResponse }) }
              : { status: 'FAILED', failedAt: at, lastError: outcome.error, ...address };
          return {
            updateOne: {
              filter: { _id: email._id as never, status: 'DIGESTING' },
              update: {
                $set: { ...set, attempts: outcome.attempts },
                $push: pushOutbox([outcomeEvent(this.outbox, told, { attempts: outcome.attempts, error: outcome.error, sentAs: digest._id })]),
              },
            },
          };
        }) as never,
        { ordered: false },
      );
    await PendingOutboxes.writing(this.messages, ids, write);
    this.outbox.committed();
  }
}
