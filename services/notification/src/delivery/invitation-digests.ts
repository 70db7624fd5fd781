import { bulkWriteBatcher, EventOutbox, PendingOutboxes, pushOutbox } from '@lib/messaging';
import { CONFIG, PeriodicJob } from '@lib/platform';
import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { randomUUID } from 'node:crypto';
import type { NotificationConfig } from '../config';
import { InvitationProgressRepository } from '../invitations/invitation-progress.repository';
import { DIGEST_TEMPLATE, Message, messageId, momentPassed } from '../messages/message.schema';
import { cancelledEvent, outcomeEvent } from '../messages/notification-events';
import { RecipientDirectory } from '../recipients/recipient-directory';
import { RenderedMessage, TemplateRenderer } from '../rendering/template-renderer';

/** The most invitations a digest email lists one by one; it counts the others, each in the inbox. */
export const DIGEST_LISTED = 50;

/** The sweep for gathered emails a digest left behind runs every NOTIFY_DIGEST_WINDOW_MS, at most this long apart. */
const SWEEP_EVERY_MS = 5 * 60_000;

/** The sweep reads stranded gathered emails in pages of this many, at most SWEEP_PAGES pages a run. */
const SWEEP_PAGE = 1_000;
const SWEEP_PAGES = 20;

/** A digest is not joined this close to its sending (a quarter of the window, at most 5 s): a later one is opened. */
const JOIN_MARGIN_MS = 5_000;

/** A digest as the gate hands it out: the email's id and when it is sent. */
export interface OpenDigest {
  id: string;
  sendAt: Date;
}

/**
 * A digest an earlier claim settled (its emails SENT or FAILED) and stopped before it recorded the digest's own outcome:
 * how, after how many attempts, and with which error (what its emails recorded: the digest's own `lastError` may be an
 * earlier attempt's).
 */
export interface SettledDigest {
  settled: 'SENT' | 'FAILED';
  attempts: number;
  error?: string;
}

/**
 * A claim of a digest, as the emails it takes record it (`digestClaim`): its attempts, which each claim raises, above
 * those of every claim before an operator sent it again (a resend starts its attempts from 0 again), so that a claim
 * stalled from before a resend takes back nothing a claim after it took.
 */
function claimNumber(digest: Pick<Message, 'attempts' | 'resends'>): number {
  return (digest.resends ?? 0) * 1_000_000 + digest.attempts;
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
  | 'resends'
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
export class InvitationDigests implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(InvitationDigests.name);
  private readonly job = new PeriodicJob('invitation-digest-sweep', () => this.sweep(), this.logger);
  /**
   * Per recipient (partner and user): when their last invitation email came, how many went one by one (and which: an
   * email asked about again, its handler retried after a failure before its write, is counted once), the open digest.
   */
  private readonly recipients = new Map<string, { last: number; alone: number; aloneIds: Set<string>; digest?: { id: string; sendAt: number } }>();
  private lastForgotten = 0;

  constructor(
    @InjectModel(Message.name) private readonly messages: Model<Message>,
    private readonly outbox: EventOutbox,
    private readonly directory: RecipientDirectory,
    private readonly invitations: InvitationProgressRepository,
    private readonly renderer: TemplateRenderer,
    @Inject(CONFIG)
    private readonly config: Pick<NotificationConfig, 'NOTIFY_DIGEST_AFTER' | 'NOTIFY_DIGEST_WINDOW_MS' | 'NOTIFY_LEASE_MS' | 'MAIL_FROM_NAME' | 'PORTAL_BASE_URL'>,
  ) {}

  onModuleInit(): void {
    this.job.start(Math.min(this.config.NOTIFY_DIGEST_WINDOW_MS, SWEEP_EVERY_MS), { atStart: false });
  }

  onModuleDestroy(): Promise<void> {
    return this.job.stop();
  }

  /**
   * The digest an invitation email to this recipient at `at` joins, or null when it is sent by itself: one of their
   * first NOTIFY_DIGEST_AFTER since they were last sent none for a window. A digest about to be sent is not joined.
   * `emailId`: the email's message id, so that the same email asked about again is counted once.
   */
  gather(userId: string, partnerId: string, at: Date, emailId?: string): OpenDigest | null {
    if (this.config.NOTIFY_DIGEST_AFTER === 0) return null;
    const window = this.config.NOTIFY_DIGEST_WINDOW_MS;
    const now = at.getTime();
    this.forgetQuiet(now);
    const key = `${partnerId}\u0000${userId}`;
    let recipient = this.recipients.get(key);
    if (!recipient || now - recipient.last >= window) {
      recipient = { last: now, alone: 0, aloneIds: new Set() };
      this.recipients.set(key, recipient);
    }
    recipient.last = now;
    // Asked again about an email it let go by itself: the same answer, not counted again.
    if (emailId !== undefined && recipient.aloneIds.has(emailId)) return null;
    if (recipient.alone < this.config.NOTIFY_DIGEST_AFTER) {
      recipient.alone += 1;
      if (emailId !== undefined) recipient.aloneIds.add(emailId);
      return null;
    }
    if (!recipient.digest || now >= recipient.digest.sendAt - Math.min(JOIN_MARGIN_MS, window / 4)) {
      recipient.digest = { id: messageId(`${DIGEST_TEMPLATE}-${randomUUID()}`, userId, 'EMAIL'), sendAt: now + window };
    }
    return { id: recipient.digest.id, sendAt: new Date(recipient.digest.sendAt) };
  }

  /** Forgets recipients quiet for a window (at most once a window): the map holds those of the last window only. */
  private forgetQuiet(now: number): void {
    const window = this.config.NOTIFY_DIGEST_WINDOW_MS;
    if (now - this.lastForgotten < window) return;
    this.lastForgotten = now;
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
      subject: 'Partner Incentive Enrollment Invitation',
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
   * up past the digest's time), or never was written, sent by themselves instead (`release`). Returns the ids released.
   */
  async releaseLate(emails: Array<{ _id: string; digest?: { id: string } }>, now = new Date()): Promise<string[]> {
    const gathered = emails.filter((e) => e.digest);
    if (gathered.length === 0) return [];
    const open = await this.openDigests(gathered.map((e) => e.digest!.id));
    const released = await this.release(gathered.filter((e) => !open.has(e.digest!.id)).map((e) => e._id), now);
    if (released.length) this.logger.log(`${released.length} invitation email(s) came after their digest was sent: sent by themselves`);
    return released;
  }

  /**
   * The sweep (every NOTIFY_DIGEST_WINDOW_MS, at most every 5 minutes): gathered emails written more than a window and
   * a lease ago whose digest is over (sent, failed, cancelled) or missing, released to go by themselves. What a crash
   * leaves behind: an email written after its digest's claim whose handler stopped before `releaseLate`, the emails of
   * a digest cancelled whose own cancellation was not written, the take of an instance whose lease had run out. Each
   * is then checked as any waiting email is (its invitation revoked, the recipient gone: CANCELLED). Read in pages of
   * SWEEP_PAGE by id, up to SWEEP_PAGES a run: the emails of a digest still open (one retried through an SMTP outage
   * may hold thousands) are passed over, not read again and again in place of those behind them.
   */
  async sweep(now = new Date(), pageSize = SWEEP_PAGE): Promise<string[]> {
    const before = new Date(now.getTime() - this.config.NOTIFY_DIGEST_WINDOW_MS - this.config.NOTIFY_LEASE_MS);
    const released: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < SWEEP_PAGES; page++) {
      const stranded = (await this.messages.collection
        .find(
          { channel: 'EMAIL', status: { $in: ['HELD', 'DIGESTING'] }, createdAt: { $lt: before }, ...(after !== undefined && { _id: { $gt: after } }) } as never,
          { projection: { _id: 1, digest: 1 } },
        )
        .sort({ _id: 1 })
        .limit(pageSize)
        .toArray()) as unknown as Array<{ _id: string; digest?: { id: string } }>;
      if (stranded.length === 0) break;
      after = stranded[stranded.length - 1]._id;
      const open = await this.openDigests(stranded.flatMap((e) => (e.digest ? [e.digest.id] : [])));
      released.push(...(await this.release(stranded.filter((e) => !e.digest || !open.has(e.digest.id)).map((e) => e._id), now)));
      if (stranded.length < pageSize) break;
    }
    if (released.length) this.logger.warn(`${released.length} invitation email(s) left behind by a digest that is over: sent by themselves`);
    return released;
  }

  /** Of these digests, the ones still to be sent or being sent (PENDING, RETRY, SENDING). */
  private async openDigests(ids: string[]): Promise<Set<string>> {
    const digests = await this.messages.collection.find({ _id: { $in: [...new Set(ids)] } } as never, { projection: { status: 1 } }).toArray();
    return new Set(digests.filter((d) => ['PENDING', 'RETRY', 'SENDING'].includes(d.status)).map((d) => d._id as unknown as string));
  }

  /**
   * Gathered emails sent by themselves after all: PENDING, due at `now`, with their own attempts from 0, out of any
   * digest. Guarded by `from` (HELD or DIGESTING): one that ended meanwhile stays as it is.
   */
  private async release(ids: string[], now: Date, from: Array<'HELD' | 'DIGESTING'> = ['HELD', 'DIGESTING']): Promise<string[]> {
    const released: string[] = [];
    for (const id of ids) {
      const { modifiedCount } = await this.messages.collection.updateOne(
        { _id: id as never, status: { $in: from } },
        { $set: { status: 'PENDING', nextAttemptAt: now, attempts: 0 }, $unset: { digest: 1, leaseToken: 1, digestClaim: 1 } },
      );
      if (modifiedCount === 1) released.push(id);
    }
    return released;
  }

  /**
   * What the claimed digest sends, under its lease: the emails it gathered that still hold, taken with the claim's lease
   * token (DIGESTING: no release sends one by itself as well; a later claim of the digest takes them over, so an
   * instance whose lease ran out can no longer settle them), each checked as a waiting email is (its invitation revoked
   * since, its year over, the recipient without the role on its location: CANCELLED with the reason). One alone is sent
   * as its own email; more as the digest template lists them. What it renders is written on the digest (guarded by the
   * lease), so that the digest keeps what it sent. With none left: `settled` when an earlier claim already settled them
   * (it sent or failed, and stopped before it could record the digest's outcome), else null (nothing to send);
   * `leaseLost` when the digest is no longer this claim's. `to`: where it goes now (its recipient's address and name as
   * the view has them: a rename while it waited greets them by the new name, as it goes to it).
   */
  async compose(
    digest: Pick<Message, '_id' | 'userId' | 'partnerId' | 'email' | 'displayName' | 'attempts' | 'resends'> & { leaseToken: string },
    now = new Date(),
    to: { email: string; displayName?: string | null } = digest,
  ): Promise<{ content: Pick<RenderedMessage, 'subject' | 'text' | 'html'> & { link?: string }; emails: GatheredEmail[] } | SettledDigest | { leaseLost: true } | null> {
    const { leaseToken } = digest;
    // Fenced: a claim that stalled past its lease (a pause, a partition) while the next claim took the digest must not
    // take back the emails that claim is sending (its outcome would then match none of them, and they would go out again
    // alone, or be told cancelled after they were sent). Not started at all once the lease is another's; and the
    // takeover itself leaves the emails a later claim took (`digestClaim`: claim numbers only grow), also when
    // this claim stalls between the two.
    if (!(await this.messages.collection.findOne({ _id: digest._id, leaseToken } as never, { projection: { _id: 1 } }))) return { leaseLost: true };
    const claim = claimNumber(digest);
    // First the emails an earlier claim took: from now on that claim, if it is still sending, settles none of them.
    await this.messages.collection.updateMany(
      {
        'digest.id': digest._id,
        $or: [{ status: 'DIGESTING', digestClaim: { $lte: claim } }, { status: 'DIGESTING', digestClaim: { $exists: false } }],
      } as never,
      { $set: { leaseToken, digestClaim: claim } },
    );
    // Then, whether an earlier claim sent (or failed) this digest and stopped before it recorded so (read after the
    // takeover: that claim can no longer settle any more after it). An email gathered since (held) was in no email
    // under the digest's Message-ID, and must not go out under it now (a receiver dropping duplicates by Message-ID
    // would drop it): it goes by itself. Those the earlier claim took and did not settle go again here, under that
    // Message-ID, as they went then.
    const sentBefore = await this.messages.collection.findOne({ 'digest.id': digest._id, status: { $in: ['SENT', 'FAILED'] } } as never, {
      projection: { status: 1, lastError: 1, attempts: 1 },
    });
    if (sentBefore) await this.releaseHeld(digest, now);
    else {
      await this.messages.collection.updateMany({ 'digest.id': digest._id, status: 'HELD' } as never, { $set: { status: 'DIGESTING', leaseToken, digestClaim: claim } });
    }
    const taken = (await this.messages.collection
      .find({ 'digest.id': digest._id, status: 'DIGESTING' } as never, { projection: { html: 0, text: 0, subject: 0, outbox: 0 } })
      .toArray()) as unknown as Array<GatheredEmail & { leaseToken?: string; createdAt: Date }>;
    const mine = taken.filter((email) => email.leaseToken === leaseToken).sort((a, b) => +a.createdAt - +b.createdAt || (a._id < b._id ? -1 : 1));
    const verdicts = await Promise.all(mine.map((email) => this.whyNot(email, now)));
    const dropped = mine.flatMap((email, i) => (verdicts[i] ? [{ email, reason: verdicts[i]! }] : []));
    if (dropped.length) await this.cancelEach(dropped, leaseToken);
    const emails = mine.filter((_, i) => !verdicts[i]);
    if (emails.length === 0) {
      // Nothing settles after the takeover but this claim: what was settled then is all there is.
      if (!sentBefore) return null;
      return { settled: sentBefore.status as 'SENT' | 'FAILED', attempts: sentBefore.attempts, ...(sentBefore.lastError !== undefined && { error: sentBefore.lastError }) };
    }
    let content: Pick<RenderedMessage, 'subject' | 'text' | 'html'> & { link?: string };
    if (emails.length === 1) {
      const whole = await this.messages.collection.findOne({ _id: emails[0]._id as never }, { projection: { subject: 1, text: 1, html: 1, link: 1 } });
      if (!whole) return null;
      content = { subject: whole.subject, text: whole.text, html: whole.html, ...(whole.link && { link: whole.link }) };
    } else {
      const rendered = this.renderer.render(DIGEST_TEMPLATE, {
        count: emails.length,
        invitations: emails.slice(0, DIGEST_LISTED).map((email) => ({ ...email.digest, link: email.link })),
        more: Math.max(0, emails.length - DIGEST_LISTED),
        link: `${this.config.PORTAL_BASE_URL.replace(/\/+$/, '')}/incentives`,
        senderName: this.config.MAIL_FROM_NAME,
        // Rendered as it goes: greeting its recipient by the name it goes to (renamed while it waited: the new one).
        recipientName: to.displayName || to.email,
      });
      content = { subject: rendered.subject, text: rendered.text, html: rendered.html };
    }
    await this.messages.collection.updateOne({ _id: digest._id as never, leaseToken }, { $set: content });
    return { content, emails };
  }

  /**
   * The emails held for this digest, sent by themselves (`release`): only while this claim still holds the digest (a
   * stalled one must not release what a later claim is about to take), and only those still HELD (never one a claim took).
   */
  private async releaseHeld(digest: { _id: string; leaseToken: string }, now: Date): Promise<void> {
    if (!(await this.messages.collection.findOne({ _id: digest._id, leaseToken: digest.leaseToken } as never, { projection: { _id: 1 } }))) return;
    const held = await this.messages.collection.find({ 'digest.id': digest._id, status: 'HELD' } as never, { projection: { _id: 1 } }).toArray();
    const released = await this.release(held.map((email) => email._id as unknown as string), now, ['HELD']);
    if (released.length) this.logger.log(`${released.length} invitation email(s) gathered after their digest was sent: sent by themselves`);
  }

  /** Why a gathered email is no longer sent, or null: as a waiting email is checked (DeliverEmail). */
  private async whyNot(email: GatheredEmail, now: Date): Promise<string | null> {
    const withdrawn = await this.invitations.withdrawal(email);
    if (withdrawn) return withdrawn;
    if (email.sendBefore && now.getTime() >= +new Date(email.sendBefore)) return momentPassed(email.sendBefore);
    const recipient = await this.directory.currentAddress(email.userId, email);
    return 'cancel' in recipient ? recipient.cancel : null;
  }

  /**
   * Gathered emails that are not sent: CANCELLED, each with its reason and its NotificationCancelled (no SMTP attempt
   * of its own), as any cancelled email. Guarded by the claim's lease token (`{ _id, leaseToken }`, the keys of a unique
   * index: a lookup on every server).
   */
  private async cancelEach(dropped: Array<{ email: GatheredEmail; reason: string }>, leaseToken: string): Promise<void> {
    if (dropped.length === 0) return;
    const write = () =>
      this.messages.collection.bulkWrite(
        dropped.map(({ email, reason }) => ({
          updateOne: {
            filter: { _id: email._id as never, leaseToken },
            update: {
              $set: { status: 'CANCELLED', lastError: reason },
              $unset: { leaseToken: 1 },
              $push: pushOutbox([cancelledEvent(this.outbox, email, { attempts: 0, reason })]),
            },
          },
        })) as never,
        { ordered: false },
      );
    await PendingOutboxes.writing(this.messages, dropped.map(({ email }) => email._id), write);
    this.outbox.committed();
  }

  /**
   * The digest was cancelled (its cancellation written) by the claim holding `leaseToken`: the emails that claim took
   * are not sent either (CANCELLED with its reason). Those it did not take, never checked against the reason (one
   * gathered while it was composed, its handler held up past the digest's join margin; or before it took any: a
   * digest cancelled for its recipient), are sent by themselves, each checked as any waiting email is (`release`). A
   * crash before this leaves them to the sweep, which does the same.
   */
  async cancelAll(digestId: string, reason: string, leaseToken: string): Promise<void> {
    const gathered = (await this.messages.collection
      .find({ 'digest.id': digestId, status: { $in: ['HELD', 'DIGESTING'] } } as never, { projection: { html: 0, text: 0, subject: 0, outbox: 0 } })
      .toArray()) as unknown as Array<GatheredEmail & { status: string; leaseToken?: string }>;
    const taken = (email: (typeof gathered)[number]) => email.status === 'DIGESTING' && email.leaseToken === leaseToken;
    await this.cancelEach(
      gathered.filter(taken).map((email) => ({ email, reason: `its digest email was cancelled: ${reason}` })),
      leaseToken,
    );
    const left = gathered.filter((email) => !taken(email));
    const released = await this.release(left.map((email) => email._id), new Date());
    if (released.length) this.logger.log(`${released.length} invitation email(s) not taken by their cancelled digest: sent by themselves`);
  }

  /**
   * The digest's outcome, on each email it took: SENT within it (`sentIn`), or FAILED with its error, each with its
   * NotificationSent / NotificationFailed carrying the digest's Message-ID. Written before the digest's own outcome:
   * a crash in between leaves the digest to be claimed again, and it then finds them settled (`compose`). Guarded by the
   * claim's lease token (a lookup on every server): written again after a partial failure, it skips those it wrote.
   */
  async settle(
    digest: Pick<Message, '_id' | 'email' | 'displayName'> & { leaseToken: string },
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
              filter: { _id: email._id as never, leaseToken: digest.leaseToken },
              update: {
                $set: { ...set, attempts: outcome.attempts },
                $unset: { leaseToken: 1 },
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
