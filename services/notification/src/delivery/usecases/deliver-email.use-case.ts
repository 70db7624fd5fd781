import { BatchLoader, byIdLoader, EventOutbox, PendingOutboxes, pushOutbox, Trace, Tracing } from '@lib/messaging';
import { CONFIG } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { randomUUID } from 'node:crypto';
import type { NotificationConfig } from '../../config';
import { DIGEST_TEMPLATE, dueEmailBranches, Message, momentPassed } from '../../messages/message.schema';
import { cancelledEvent, outcomeEvent } from '../../messages/notification-events';
import { retryDelay } from '../backoff';
import { deadLetterEntry } from '../dead-letter';
import { InvitationProgressRepository } from '../../invitations/invitation-progress.repository';
import { ProfileProgressRepository } from '../../profiles/profile-progress.repository';
import { HandOverMessages } from '../../messages/usecases/hand-over-messages.use-case';
import { RenderAgain } from '../../messages/usecases/render-again.use-case';
import { needsSomeone } from '../../messages/message-planner';
import { TemplateName } from '../../rendering/template-renderer';
import { RecipientDirectory } from '../../recipients/recipient-directory';
import { DeliveryMetrics } from '../delivery-metrics';
import { GatheredEmail, InvitationDigests, SettledDigest } from '../invitation-digests';
import { describeSmtpFailure, isPermanentSmtpFailure, Mailer, withoutAddresses } from '../mailer';

/** A message this worker holds: nobody else sends it until `leaseUntil`, and only this token records its outcome. */
export type ClaimedEmail = Message & { leaseToken: string };

export type DeliveryOutcome =
  | { status: 'SENT' }
  | { status: 'RETRY'; retryInMs: number }
  | { status: 'FAILED' }
  /** `due`: the emails written for whoever holds the role its recipient left (HandOverMessages), to queue. */
  | { status: 'CANCELLED'; due?: string[] }
  | { status: 'LEASE_LOST' };

/**
 * Whether a later status change of the email's enrollment overtook it: `reason`, for this recipient (then it is not
 * sent); `forAnyone`, whoever that later change told (then what it asks is handed over to nobody).
 */
interface Supersession {
  reason: string | null;
  forAnyone: boolean;
}

/**
 * Sends one email. `claim()` takes the next due email with a lease (one findOneAndUpdate, so two workers never
 * hold the same message); `execute()` sends it over SMTP and records the outcome in one write together with
 * its NotificationSent / NotificationFailed event (and the dead-letter record), through the outbox.
 *
 * A crash after SMTP accepted the message and before the SENT write leaves the message SENDING; once the lease
 * expires it is sent again with the same Message-ID (unless that was its last attempt: then it is FAILED, see
 * attempt()). That window is the only way an email can go out twice.
 */
@Injectable()
export class DeliverEmail {
  private readonly logger = new Logger(DeliverEmail.name);

  constructor(
    @InjectModel(Message.name) private readonly messages: Model<Message>,
    private readonly mailer: Mailer,
    private readonly outbox: EventOutbox,
    private readonly directory: RecipientDirectory,
    private readonly invitations: InvitationProgressRepository,
    private readonly profiles: ProfileProgressRepository,
    private readonly metrics: DeliveryMetrics,
    private readonly digests: InvitationDigests,
    private readonly handOver: HandOverMessages,
    private readonly renderAgain: RenderAgain,
    @Inject(CONFIG) private readonly config: NotificationConfig,
  ) {
    this.byId = byIdLoader(
      async (ids) => (await this.messages.collection.find({ _id: { $in: ids } } as never, { projection: { outbox: 0 } }).toArray()) as unknown as Message[],
    );
  }

  /**
   * Why an email about an enrollment's status change must not go out any more: a later change of the same enrollment
   * has an email for the same recipient (sent or waiting; for a company admin told in place of the location's missing
   * Incentives admin, any message of it), which tells where it stands now. Two changes in quick
   * succession (approved, then a profile edited: ENROLLED, then VALIDATING) are sent at the same time or retried
   * apart, so the older could arrive last, dated newest, and leave the admin believing it. Null otherwise.
   */
  private async supersession(email: Pick<Message, 'userId' | 'enrollmentStatus' | 'audience'>): Promise<Supersession> {
    const status = email.enrollmentStatus;
    if (!status) return { reason: null, forAnyone: false };
    // Told to the company admins because the location had no Incentives admin (the planner's toCompanyAdmins): the later
    // change's messages went to whoever holds the role now (one appointed since, who acted on it), not to them: any
    // later message of the enrollment tells the same.
    const forCompanyAdmins = email.audience !== undefined && !email.audience.roles.includes('INCENTIVES_ADMIN');
    // The index's two fields exactly (mongo-java-server uses an index only so); the recipient and channel are checked here.
    const later = await this.messages.collection
      .find({ 'enrollmentStatus.enrollmentId': status.enrollmentId, 'enrollmentStatus.revision': { $gt: status.revision } } as never, {
        projection: { userId: 1, channel: 1, 'enrollmentStatus.reminder': 1, 'enrollmentStatus.stillToComplete': 1 },
      })
      .toArray()
      // A renewal reminder tells no change: it withdraws nothing (it is withdrawn by a later change's email itself). A
      // reminder to the location's admins that it is not completed is not withdrawn by a change that leaves it to
      // complete (a rejection); one to the company admins (assign someone) is, by any: someone holds the role now.
      .then((found) =>
        found.filter((m) => {
          const later = (m as unknown as Message).enrollmentStatus;
          return !later?.reminder && !(status.reminder && later?.stillToComplete && !forCompanyAdmins);
        }),
      );
    const newer = forCompanyAdmins
      ? later.length > 0
      : later.some((m) => (m as unknown as Message).userId === email.userId && (m as unknown as Message).channel === 'EMAIL');
    return { reason: newer ? 'the enrollment changed again since: a later email tells where it stands' : null, forAnyone: later.length > 0 };
  }

  /** Concurrent claims by id read their emails with one query. */
  private readonly byId: BatchLoader<string, Message>;

  /**
   * The email rendered again for today and its recipient now (RenderAgain). Its failure fails the attempt (retried: the
   * name and address are not recorded without the words that go with them), but on its last one: then it goes as
   * written.
   */
  private async renderedAgain(claimed: ClaimedEmail, to: { email: string; displayName?: string }, stillServed?: string[]) {
    try {
      return await this.renderAgain.execute(claimed, to, { stillServed });
    } catch (error) {
      if (claimed.attempts < this.config.NOTIFY_MAX_ATTEMPTS) throw error;
      this.logger.warn(`${claimed._id}: not rendered again in ${claimed.attempts} attempts (${(error as Error).message}); sent as written`);
      return undefined;
    }
  }

  /**
   * What the email of a recipient who left asks, handed over to whoever holds the role now (HandOverMessages): not when
   * its enrollment changed again since (a later status change has a message, whoever got it: it told where it stands).
   * `stillServed`: the locations a bank profile serves now, fewer than its email was addressed for (locationsStillServed).
   * A failure fails the attempt (the email is claimed again, and handed over then), until the email has used up its
   * attempts: then it is cancelled without (a hand-over that cannot succeed must not keep it claimed for ever).
   */
  private async handOverFrom(claimed: ClaimedEmail, superseded: Supersession, stillServed?: string[]): Promise<{ due: string[]; handedOver: boolean }> {
    // Only a message asking someone to act is handed over; nor one a later change of its enrollment overtook.
    if (!needsSomeone(claimed.template as TemplateName) || superseded.forAnyone) return { due: [], handedOver: false };
    try {
      return await this.handOver.execute(claimed.causationEventId, claimed.userId, stillServed);
    } catch (error) {
      if (claimed.attempts <= this.config.NOTIFY_MAX_ATTEMPTS) throw error;
      this.logger.warn(`${claimed._id}: not handed over after ${claimed.attempts - 1} attempts (${(error as Error).message}); cancelled without`);
      return { due: [], handedOver: false };
    }
  }

  /** The next email that is due (new, retry time reached, or abandoned by a worker whose lease ran out). */
  async claim(now = new Date()): Promise<ClaimedEmail | null> {
    const leaseToken = randomUUID();
    // The driver's own findOneAndUpdate: mongoose would add a projection for the hidden outbox field, which
    // FerretDB's findAndModify does not implement.
    const { waiting, abandoned } = dueEmailBranches(now);
    const claimed = await this.messages.collection.findOneAndUpdate(
      { channel: 'EMAIL', $or: [waiting, abandoned] } as never,
      this.claimUpdate(leaseToken, now),
      { sort: { nextAttemptAt: 1 }, returnDocument: 'after' },
    );
    return claimed ? claimedEmail(claimed as unknown as Message, leaseToken) : null;
  }

  /**
   * Claims one email by id, known to be due with `attempts` attempts (the caller just created it, or recorded a retry
   * whose time has come), guarded by `{ _id, attempts }`, exactly the keys of an index, so that a server without a
   * query planner (mongo-java-server) looks the email up instead of scanning every message, as the `$or` filter of
   * `claim()` makes it do. Only a claim changes `attempts` (a release undoes its own claim's), and every other change
   * of a waiting email follows a claim, so the guard alone decides, without a read. An email abandoned by a worker
   * whose lease ran out is `claim()`'s (its filter asks for the lease's end: a guard by its lease token alone would
   * take over a lease its holder had renewed since it was read). The claim must also find the email due
   * (`nextAttemptAt <= now`): a timer that fires early, or a caller that is wrong, must not send an email before its
   * time. That condition is not in the filter, which would then no longer be the keys of an index; a claim never
   * changes `nextAttemptAt`, so the email it returns tells, and one that was not due is given back at once, as it was
   * (see `undoEarlyClaims`).
   */
  async claimById(id: string, attempts: number, now = new Date()): Promise<ClaimedEmail | null> {
    const leaseToken = randomUUID();
    const claimed = await this.messages.collection.findOneAndUpdate(
      // Exactly the keys of an index (no `channel`): only email ids are enqueued, and they were read as emails.
      { _id: id as never, attempts } as never,
      this.claimUpdate(leaseToken, now),
      { returnDocument: 'after' },
    );
    if (!claimed) return null;
    const [due] = await this.undoEarlyClaims([claimedEmail(claimed as unknown as Message, leaseToken)], now);
    return due ?? null;
  }

  /**
   * Claims, together, emails known to be due with `attempts` attempts (just created: 0; a retry whose time came):
   * one bulkWrite of updates guarded by `{ _id, attempts }` each (exactly the keys of an index: a lookup on every
   * server, where `{ _id: { $in }, attempts }` made mongo-java-server scan) gives them one new lease token, and one
   * find by `_id` reads them; those with this token are the ones this call claimed, the others were claimed by
   * someone else meanwhile. Two commands for the group instead of one per email. Those not due yet are given back
   * (see `claimById`).
   *
   * When the bulkWrite fails (a lost reply, a write error on one of them) some of its updates may have been applied:
   * the emails are read back all the same, and those this token holds are returned, so that none waits SENDING under
   * a lease nobody works on until it expires. It fails only when it holds none of them.
   */
  async claimManyById(ids: string[], attempts: number, now = new Date()): Promise<ClaimedEmail[]> {
    if (ids.length === 1) {
      const claimed = await this.claimById(ids[0], attempts, now);
      return claimed ? [claimed] : [];
    }
    const leaseToken = randomUUID();
    const claim = this.claimUpdate(leaseToken, now);
    let failure: { error: unknown } | undefined;
    try {
      const result = await this.messages.collection.bulkWrite(
        ids.map((id) => ({ updateOne: { filter: { _id: id, attempts } as never, update: claim } })),
        { ordered: false },
      );
      if (result.modifiedCount === 0) return [];
    } catch (error) {
      failure = { error };
    }
    const read = await Promise.all(ids.map((id) => this.byId.load(id)));
    const claimed = read.filter((message) => message?.leaseToken === leaseToken).map((message) => claimedEmail(message!, leaseToken));
    if (failure) {
      if (claimed.length === 0) throw failure.error;
      this.logger.warn(`claiming ${ids.length} emails failed (${(failure.error as Error).message}); ${claimed.length} of them were claimed all the same`);
    }
    return this.undoEarlyClaims(claimed, now);
  }

  /**
   * Gives claimed emails back without sending them (the worker is stopping): due at once, for this or any instance,
   * and without the attempt their claim counted, since none was made. Guarded by the lease token, exactly the keys of
   * an index: an email whose lease expired and was taken over meanwhile is left to its new holder. Waiting emails are
   * PENDING before their first attempt and RETRY after, as `failed()` leaves them.
   */
  async release(emails: ClaimedEmail[], now = new Date()): Promise<void> {
    await this.unclaim(emails, now);
  }

  /**
   * The emails of a known-attempts claim that were due; the others (a claim never changes `nextAttemptAt`) are
   * released at once with their `nextAttemptAt` kept, as if the claim had not happened.
   */
  private async undoEarlyClaims(claimed: ClaimedEmail[], now: Date): Promise<ClaimedEmail[]> {
    const early = claimed.filter((email) => !email.nextAttemptAt || +email.nextAttemptAt > +now);
    if (early.length === 0) return claimed;
    this.logger.warn(`${early.map((e) => e._id).join(', ')}: claimed by id before their next attempt is due; given back`);
    // Not at the cost of the due ones: an email this fails to give back is taken again once its lease expires.
    await this.unclaim(early).catch((error) => this.logger.warn(`giving back early claims failed: ${(error as Error).message}`));
    return claimed.filter((email) => !early.includes(email));
  }

  /** Undoes claims this worker holds: waiting again, one attempt less, due at `dueAt` (unchanged when absent). */
  private async unclaim(emails: ClaimedEmail[], dueAt?: Date): Promise<void> {
    if (emails.length === 0) return;
    await this.messages.collection.bulkWrite(
      emails.map((email) => ({
        updateOne: {
          filter: { _id: email._id, leaseToken: email.leaseToken } as never,
          update: {
            $set: { status: email.attempts > 1 ? 'RETRY' : 'PENDING', ...(dueAt && { nextAttemptAt: dueAt }) },
            $unset: { leaseToken: 1, leaseUntil: 1 },
            $inc: { attempts: -1 },
          },
        },
      })),
      { ordered: false },
    );
  }

  /** What every claim writes: SENDING under a new lease, one more attempt. Never `nextAttemptAt` (see `claimById`). */
  private claimUpdate(leaseToken: string, now: Date) {
    return {
      $set: { status: 'SENDING', leaseToken, leaseUntil: new Date(now.getTime() + this.config.NOTIFY_LEASE_MS) },
      $inc: { attempts: 1 },
    };
  }

  async execute(message: ClaimedEmail): Promise<DeliveryOutcome> {
    // With the correlation ids of the event that caused the email (its log lines), and while tracing is on in its
    // trace: the SMTP exchange and the outcome event too.
    const attributes = { 'notification.message.id': message._id, 'notification.template': message.template, 'notification.attempt': message.attempts };
    const outcome = await Trace.run({ correlationId: message.correlationId, causationId: message.causationEventId }, () =>
      Tracing.resume(message, 'deliver email', attributes, async (span) => {
        const outcome = await this.attempt(message);
        span?.setAttribute('notification.outcome', outcome.status);
        return outcome;
      }),
    );
    this.metrics.attempts.inc({ outcome: outcome.status.toLowerCase(), template: message.template });
    return outcome;
  }

  /**
   * An attempt; one claimed more times than it may be attempted whose attempt fails before any outcome (what is read or
   * rendered before the SMTP exchange failing on every claim: bad data, a template of NOTIFY_TEMPLATES_DIR calling a
   * helper that does not exist) is failed then, as one whose claims ended without an outcome (below), not claimed every
   * lease for ever. A digest's gathered emails were not read: none is failed with it, and the sweep releases them to
   * go by themselves (InvitationDigests.sweep), so its failure tells nobody (no outcome of its own, its dead letter).
   */
  private async attempt(claim: ClaimedEmail): Promise<DeliveryOutcome> {
    try {
      return await this.attemptOnce(claim);
    } catch (error) {
      if (claim.attempts <= this.config.NOTIFY_MAX_ATTEMPTS) throw error;
      const reason = `its ${this.config.NOTIFY_MAX_ATTEMPTS} attempts were used up without an outcome (last error: ${(error as Error).message})`;
      const gathered = claim.template === DIGEST_TEMPLATE ? { emails: [], leaseToken: claim.leaseToken } : undefined;
      return this.failed({ ...claim, attempts: claim.attempts - 1 }, new Error(reason), {}, gathered);
    }
  }

  private async attemptOnce(claim: ClaimedEmail): Promise<DeliveryOutcome> {
    let claimed = claim;
    // A profile's email first (none else reads anything here): the locations it still serves decide its recipient.
    const profile = await this.profiles.check(claimed);
    const profileMovedOn = profile.withdrawn;
    const [recipient, withdrawn, superseded] = await Promise.all([
      this.directory.currentAddress(claimed.userId, claimed, profile.stillServed),
      this.invitations.withdrawal(claimed),
      this.supersession(claimed),
    ]);
    // What it says stopped being true while it waited (a retry, a backlog): an invitation revoked meanwhile, a request
    // to assign an Incentives admin to a location that has one now, an enrollment status changed again since, a profile
    // changed and submitted again since its rejection, or its forms renewed since "they expire on".
    if (withdrawn) return this.cancel(claimed, withdrawn);
    if (profileMovedOn) return this.cancel(claimed, profileMovedOn);
    if (superseded.reason) return this.cancel(claimed, superseded.reason);
    // What it asks had to be done before a moment that has passed (a renewal reminder retried past its year's end).
    if (claimed.sendBefore && Date.now() >= +new Date(claimed.sendBefore)) return this.cancel(claimed, momentPassed(claimed.sendBefore));
    // Deactivated, or no longer in the role it was addressed for, while the email waited: they get nothing. What it asks
    // goes to whoever holds the role now, if nobody it told does; written before the cancellation, so that a stop in
    // between hands it over on the next claim (the same messages: nothing twice).
    if ('cancel' in recipient) {
      const { due, handedOver } = recipient.left ? await this.handOverFrom(claimed, superseded, profile.stillServed) : { due: [], handedOver: false };
      const outcome = await this.cancel(claimed, recipient.cancel, handedOver);
      return outcome.status === 'CANCELLED' && due.length ? { ...outcome, due } : outcome;
    }
    // A digest (InvitationDigests): what it says is made of the invitation emails it gathered that still hold, taken
    // with this claim's lease token (the one its emails are settled with, also once holdLease renews it under another).
    let gathered: Gathered | undefined;
    if (claimed.template === DIGEST_TEMPLATE) {
      const digest = await this.digests.compose(claimed, undefined, recipient.to);
      if (!digest) return this.cancel(claimed, 'none of the invitation emails it gathered is to be sent any more');
      if ('leaseLost' in digest) return { status: 'LEASE_LOST' };
      // Its emails were settled by an earlier claim that stopped before it recorded the digest's own outcome.
      if ('settled' in digest) return this.settledBefore(claimed, digest);
      gathered = { emails: digest.emails, leaseToken: claimed.leaseToken };
      claimed = { ...claimed, ...digest.content };
    }
    // Claimed more times than it may be attempted: its last claims ended without an outcome (an error before the SMTP
    // exchange, bad data rather than an outage, or their worker stopped, maybe after the SMTP server took it), each
    // taken again once its lease ran out. Failed now, as after its last SMTP attempt (NotificationFailed, the dead
    // letter), not claimed every minute for ever.
    if (claimed.attempts > this.config.NOTIFY_MAX_ATTEMPTS) {
      const reason = `its ${this.config.NOTIFY_MAX_ATTEMPTS} attempts were used up without an outcome${claimed.lastError ? ` (last error: ${claimed.lastError})` : ''}`;
      // The attempts the outcome tells of are the claims before this one (this one makes none), as settledBefore's.
      return this.failed({ ...claimed, attempts: claimed.attempts - 1 }, new Error(reason), {}, gathered);
    }
    // The address changed while the email waited (a backlog, a retry): it goes to the current one, and the
    // outcome records where it went.
    const address = recipient.to;
    const moved = address.email !== claimed.email || (address.displayName ?? null) !== (claimed.displayName ?? null);
    // Its recipient renamed (the greeting), or words that depend on the day it goes ("in 3 days") written on an earlier
    // one: rendered again (RenderAgain), and recorded as sent.
    const renderedNow = gathered ? undefined : await this.renderedAgain(claimed, address, profile.stillServed);
    const held = await this.holdLease(claimed);
    if (!held) return { status: 'LEASE_LOST' };
    const message: ClaimedEmail = { ...held, ...(moved && { email: address.email, displayName: address.displayName }), ...renderedNow };
    const readdressed = { ...(moved && { email: message.email, displayName: message.displayName ?? null }), ...renderedNow };
    const renew = this.keepLease(message);
    const timer = this.metrics.sendSeconds.startTimer();
    let sent: { ok: true; response: string } | { ok: false; error: unknown };
    try {
      sent = { ok: true, response: (await this.mailer.send(message)).response };
    } catch (error) {
      sent = { ok: false, error };
    } finally {
      timer();
      await renew.stop();
    }
    if (!sent.ok) return this.failed(message, sent.error, readdressed, gathered);
    const smtpResponse = sent.response.slice(0, 500);
    // A digest's emails first, each with its NotificationSent (the digest has none of its own: it caused nothing).
    if (gathered) await this.settle(message, gathered, { attempts: message.attempts, smtpResponse });
    const recorded = await this.record(message, {
      $set: { status: 'SENT', sentAt: new Date(), smtpResponse, ...readdressed },
      $unset: { leaseUntil: 1, leaseToken: 1, nextAttemptAt: 1 },
      ...(!gathered && { $push: pushOutbox([outcomeEvent(this.outbox, message, { attempts: message.attempts })]) }),
    });
    return recorded ? { status: 'SENT' } : { status: 'LEASE_LOST' };
  }

  /**
   * Not sent, and never will be: CANCELLED with the reason, and NotificationCancelled in the same write (the delivery
   * attempts begun: the claims before this one, which makes none). A digest has no event of its own (it caused nothing):
   * its emails are cancelled with it, each with its event, once its cancellation is written (by the lease holder only).
   */
  private async cancel(claimed: ClaimedEmail, reason: string, handedOver = false): Promise<DeliveryOutcome> {
    const digest = claimed.template === DIGEST_TEMPLATE;
    const recorded = await this.record(claimed, {
      $set: { status: 'CANCELLED', lastError: reason },
      $unset: { leaseUntil: 1, leaseToken: 1, nextAttemptAt: 1 },
      ...(!digest && { $push: pushOutbox([cancelledEvent(this.outbox, claimed, { attempts: claimed.attempts - 1, reason, handedOver })]) }),
    });
    if (recorded && digest) await this.digests.cancelAll(claimed._id, reason, claimed.leaseToken);
    return recorded ? { status: 'CANCELLED' } : { status: 'LEASE_LOST' };
  }

  /**
   * A digest whose emails an earlier claim settled (SENT, or FAILED) before it stopped: the digest's own outcome, as
   * that claim would have written it (the dead letter of a failed one from what it rendered, kept on the digest).
   */
  private async settledBefore(claimed: ClaimedEmail, { settled, attempts, error: told }: SettledDigest): Promise<DeliveryOutcome> {
    const at = new Date();
    const error = told ?? claimed.lastError ?? 'failed';
    const recorded = await this.record(
      claimed,
      settled === 'SENT'
        ? { $set: { status: 'SENT', sentAt: at }, $unset: { leaseUntil: 1, leaseToken: 1, nextAttemptAt: 1 } }
        : {
            $set: { status: 'FAILED', failedAt: at, lastError: error },
            $unset: { leaseUntil: 1, leaseToken: 1, nextAttemptAt: 1 },
            $push: pushOutbox([deadLetterEntry(this.outbox, claimed, attempts, error, at)]),
          },
    );
    return recorded ? { status: settled } : { status: 'LEASE_LOST' };
  }

  /** A digest's emails get its outcome (InvitationDigests.settle), the write retried as an outcome's (`whileLeased`). */
  private async settle(message: ClaimedEmail, gathered: Gathered, outcome: { attempts: number; error?: string; smtpResponse?: string }): Promise<void> {
    await this.whileLeased(message, 'recording its emails\' outcome', () => this.digests.settle({ ...message, leaseToken: gathered.leaseToken }, gathered.emails, outcome));
  }

  /** `gathered`: a digest's emails (InvitationDigests), which fail with it, each with its NotificationFailed. */
  private async failed(message: ClaimedEmail, error: unknown, readdressed: Record<string, unknown>, gathered?: Gathered): Promise<DeliveryOutcome> {
    const reason = describeSmtpFailure(error);
    const permanent = isPermanentSmtpFailure(error, this.config.MAIL_FROM_ADDRESS);
    if (!permanent && message.attempts < this.config.NOTIFY_MAX_ATTEMPTS) {
      const retryInMs = retryDelay(message.attempts, this.config.NOTIFY_BACKOFF_MS, this.config.NOTIFY_BACKOFF_MAX_MS);
      this.logger.warn(`${message._id} attempt ${message.attempts} failed (${withoutAddresses(reason)}); retry in ${retryInMs} ms`);
      const recorded = await this.record(message, {
        $set: { status: 'RETRY', nextAttemptAt: new Date(Date.now() + retryInMs), lastError: reason, ...readdressed },
        $unset: { leaseUntil: 1, leaseToken: 1 },
      });
      return recorded ? { status: 'RETRY', retryInMs } : { status: 'LEASE_LOST' };
    }
    const failedAt = new Date();
    this.logger.error(`${message._id} failed after ${message.attempts} attempt(s)${permanent ? ' (permanent)' : ''}: ${withoutAddresses(reason)}`);
    if (gathered?.emails.length) await this.settle(message, gathered, { attempts: message.attempts, error: reason });
    const recorded = await this.record(message, {
      $set: { status: 'FAILED', failedAt, lastError: reason, ...readdressed },
      $unset: { leaseUntil: 1, leaseToken: 1, nextAttemptAt: 1 },
      $push: pushOutbox([
        ...(gathered ? [] : [outcomeEvent(this.outbox, message, { attempts: message.attempts, error: reason })]),
        deadLetterEntry(this.outbox, message, message.attempts, reason, failedAt),
      ]),
    });
    return recorded ? { status: 'FAILED' } : { status: 'LEASE_LOST' };
  }

  /**
   * Writes the outcome if this worker still holds the lease. A database hiccup is retried while the lease lasts (its
   * end as last written, less a sixth of a lease for the clocks of other instances): giving up early would make
   * another worker send the message again, and so would trying on past the lease (another may have taken it over).
   */
  private async record(message: ClaimedEmail, update: Record<string, unknown>): Promise<boolean> {
    return this.whileLeased(message, 'recording the outcome', async () => {
      // Guarded by the lease token: the keys of the index `{ _id, leaseToken }`. The plain driver (no casting: the
      // update is built here); the relay is told about the outbox directly. An update, not a findOneAndUpdate:
      // whether it matched is all this needs, and the document (the whole rendered email) need not come back.
      const write = () => this.messages.collection.updateOne({ _id: message._id as never, leaseToken: message.leaseToken }, update);
      const { matchedCount } = '$push' in update ? await PendingOutboxes.writing(this.messages, [message._id], write) : await write();
      if (matchedCount === 0) {
        this.logger.warn(`${message._id}: lease lost before the outcome was recorded; another attempt owns it`);
        return false;
      }
      if ('$push' in update) this.outbox.committed();
      return true;
    });
  }

  /** `write`, tried again on a database error while the lease lasts (its end as last written, less a sixth of a lease). */
  private async whileLeased<T>(message: ClaimedEmail, what: string, write: () => Promise<T>): Promise<T> {
    const leaseEnd = message.leaseUntil ? +message.leaseUntil : Date.now() + this.config.NOTIFY_LEASE_MS;
    const deadline = leaseEnd - this.config.NOTIFY_LEASE_MS / 6;
    let delay = 100;
    for (;;) {
      try {
        return await write();
      } catch (error) {
        if (Date.now() + delay > deadline) throw error;
        this.logger.warn(`${message._id}: ${what} failed (${(error as Error).message}); retrying`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2_000);
      }
    }
  }

  /**
   * The claim, still this worker's, right before it sends. Between the claim and the send there are reads (the
   * recipient view, the rest of a group's claims) that a stalled database can hold up past the lease; another
   * instance may then have taken the email over and sent it. With five sixths of the lease or more left (by this
   * clock), nobody can have; with less, a guarded write takes a fresh lease under a new token, and fails when the token is no
   * longer this claim's (taken over: null, nothing is sent). The new token also fences off a takeover that read the
   * old lease as expired just before (its claim is guarded by the old token).
   */
  private async holdLease(claimed: ClaimedEmail): Promise<ClaimedEmail | null> {
    const now = Date.now();
    // Five sixths left: the renewals (every third from now on) keep the promise that one failed or slow renewal still
    // leaves the next a sixth of the lease before it lapses. The usual case (a claim a few milliseconds ago) costs no
    // write.
    if (claimed.leaseUntil && +claimed.leaseUntil - now >= (5 * this.config.NOTIFY_LEASE_MS) / 6) return claimed;
    const leaseToken = randomUUID();
    const leaseUntil = new Date(now + this.config.NOTIFY_LEASE_MS);
    const renewed = await this.messages.collection.updateOne(
      { _id: claimed._id as never, leaseToken: claimed.leaseToken },
      { $set: { leaseToken, leaseUntil } },
    );
    if (renewed.modifiedCount === 1) return { ...claimed, leaseToken, leaseUntil };
    this.logger.warn(`${claimed._id}: its lease ran out before the send and another worker holds it now; not sent here`);
    return null;
  }

  /**
   * Extends the lease while a slow SMTP exchange is in progress. `stop()` waits for a renewal in flight, so it
   * can never land after (and, on a server whose updates are read-modify-write, undo) the outcome write.
   */
  private keepLease(message: ClaimedEmail): { stop(): Promise<void> } {
    // A renewal every third of a lease, whether the last one answered or not: the send began with five sixths of the
    // lease left (holdLease), so the second renewal, two thirds in, is the last that lands before it can lapse; one
    // still waiting on the database then (a stuck connection) must not hold it back, or another instance could take
    // the email over and send it again. The renewals running pile up no faster than one a tick; stop() awaits them
    // before the outcome write (on a server whose updates read, then write, a late renewal could undo the outcome),
    // up to a sixth of a lease, no longer (a hung one must not hold the send's end and shutdown). A renewal only ever
    // moves the lease's end later ($max): one held up on a stuck connection that lands after newer ones must not pull
    // it back to a time already past.
    const every = Math.max(1_000, Math.floor(this.config.NOTIFY_LEASE_MS / 3));
    const running = new Set<Promise<unknown>>();
    const timer = setInterval(() => {
      const leaseUntil = new Date(Date.now() + this.config.NOTIFY_LEASE_MS);
      const renewal: Promise<unknown> = this.messages.collection
        .updateOne({ _id: message._id as never, leaseToken: message.leaseToken }, { $max: { leaseUntil } })
        // The lease as written: how long recording the outcome may keep trying (record).
        .then(({ matchedCount }) => matchedCount === 1 && +leaseUntil > +(message.leaseUntil ?? 0) && (message.leaseUntil = leaseUntil))
        .catch(() => undefined)
        .finally(() => running.delete(renewal));
      running.add(renewal);
    }, every);
    timer.unref();
    return {
      stop: async () => {
        clearInterval(timer);
        if (!running.size) return;
        let bound: NodeJS.Timeout | undefined;
        await Promise.race([Promise.all(running), new Promise((resolve) => (bound = setTimeout(resolve, this.config.NOTIFY_LEASE_MS / 6)))]);
        clearTimeout(bound);
      },
    };
  }
}

/** A digest's emails as its claim took them, with that claim's lease token (InvitationDigests.compose). */
interface Gathered {
  emails: GatheredEmail[];
  leaseToken: string;
}

/** A claimed email as the worker holds it: without its outbox, with the lease token this claim wrote. */
function claimedEmail(message: Message, leaseToken: string): ClaimedEmail {
  return { ...message, outbox: undefined, leaseToken } as unknown as ClaimedEmail;
}
