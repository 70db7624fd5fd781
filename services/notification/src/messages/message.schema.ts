import { NotificationChannel, NotificationChannels, Role } from '@lib/contracts';
import { outboxPlugin } from '@lib/messaging';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

export const MessageStatuses = ['PENDING', 'SENDING', 'RETRY', 'SENT', 'FAILED', 'CANCELLED', 'HELD', 'DIGESTING'] as const;
export type MessageStatus = (typeof MessageStatuses)[number];

/** The one id of a message: the same event, recipient and channel always give the same document. */
export function messageId(eventId: string, userId: string, channel: NotificationChannel): string {
  return `${eventId}:${userId}:${channel}`;
}

/**
 * Why a recipient was addressed: holding one of `roles` on one of `locationIds` (directly or through `*`), or on any
 * location of the partner when `locationIds` is absent. An email re-checks it before it is sent.
 */
export interface Audience {
  roles: Role[];
  locationIds?: string[];
}

/** The template of an email gathering a recipient's invitation emails (InvitationDigests), rendered when it is sent. */
export const DIGEST_TEMPLATE = 'invitation-digest';

/** Why an email past its `sendBefore` is withdrawn (its lastError). */
export function momentPassed(sendBefore: Date | string): string {
  return `its moment passed: it was to be sent before ${new Date(sendBefore).toISOString()}`;
}

/**
 * What an invitation email gathered into a digest (`digest.id`, the digest email's id) shows there: one line each.
 */
export interface DigestEntry {
  id: string;
  programLabel: string;
  locationLabel: string;
  fiscalYear: string;
}

/**
 * One message to one recipient on one channel, caused by one domain event. Rendered when the event is consumed,
 * so what is sent (and what the inbox shows) never changes afterwards.
 *  - EMAIL: PENDING -> SENDING (leased by a worker) -> SENT, or RETRY -> ... -> FAILED after the last attempt;
 *    CANCELLED when it must not go out any more, before it could be sent: the recipient deactivated, of another
 *    partner, or no longer holding the role it was addressed for (`audience`); what it says about an invitation no
 *    longer true (`invitation`); a later status email of the enrollment for the recipient; `sendBefore` passed.
 *    An invitation email gathered into a digest (InvitationDigests: a recipient's many invitations in a short while)
 *    is HELD instead of PENDING, without attempts of its own (no claim by id takes it); the digest email takes it
 *    (DIGESTING, under the claim's lease token) when it is sent, and it ends as the digest does (SENT, FAILED), with its
 *    own outcome event, or CANCELLED on its own (revoked meanwhile). One still HELD when its digest was already sent is
 *    sent by itself (PENDING again, attempts from 0), and so is one a digest that is over left behind (the sweep).
 *  - INBOX: written SENT (it is in the inbox the moment it exists); `read` flips once.
 * NotificationSent / NotificationFailed / NotificationCancelled travel in the outbox of the same write that records the
 * outcome (a digest email has none of its own: its emails have theirs).
 */
/**
 * The enrollment change a message tells (its revision), for DeliverEmail's supersession. `reminder`: a renewal reminder
 * that it is not completed, which tells no change. `stillToComplete`: the change leaves it to complete (INVITED,
 * ACTION_REQUIRED: a rejection, a Continue), so it does not withdraw such a reminder, whose year-end deadline it does
 * not tell.
 */
export interface EnrollmentStatusRef {
  enrollmentId: string;
  revision: number;
  reminder?: true;
  stillToComplete?: true;
}

@Schema({ collection: 'messages', versionKey: false })
export class Message {
  /** `${eventId}:${userId}:${channel}` */
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true, type: String, enum: NotificationChannels }) channel!: NotificationChannel;
  @Prop({ required: true }) partnerId!: string;
  @Prop() locationId?: string;
  @Prop({ required: true }) userId!: string;
  @Prop({ required: true }) email!: string;
  @Prop() displayName?: string;
  /**
   * The role the recipient was addressed for, when the recipient view showed them in it: an email is re-checked against
   * it before it is sent, an inbox entry whenever the inbox is read (InboxRepository). Absent on emails written before
   * it existed (not re-checked) and on inbox entries written before it was recorded on them (their scope is derived).
   */
  @Prop({ type: Object }) audience?: Audience;

  /** The domain event that caused it. */
  @Prop({ required: true }) causationEventId!: string;
  @Prop({ required: true }) causationEventType!: string;
  @Prop({ required: true }) correlationId!: string;
  /** EMAIL, while tracing is on: the trace context of the handler that wrote it; its delivery is a span of that trace. */
  @Prop() traceparent?: string;
  @Prop() tracestate?: string;
  /**
   * Messages about an invitation (its own events: the invitation, the request to assign an Incentives admin): which
   * one, and when the causing event occurred, with the invitation's version it told of (absent in older events). A
   * waiting email is withdrawn when the invitation was revoked, or (the request) reached an admin, after that
   * (InvitationProgressRepository), and when its program (`programId`, absent on messages written before it was
   * recorded) closed after the decision (`programRevision`) or moved on from the invitation's `fiscalYear`. Absent on
   * other messages, and on messages written before it existed (not re-checked).
   */
  @Prop({ type: Object }) invitation?: {
    invitationId: string;
    occurredAt: Date;
    version?: number;
    programId?: string;
    fiscalYear?: string;
    /** The program's revision the invitations service decided by (its event's `programRevision`). */
    programRevision?: number;
  };
  /**
   * Messages about an enrollment's status change: which enrollment, at which revision. A waiting email is withdrawn
   * when a later change of that enrollment has an email for the same recipient (DeliverEmail's supersession check): two changes in
   * quick succession (approved, then a profile edited) must not reach the admin in the wrong order, the older one
   * dated newest. Absent on other messages, and on messages written before it existed.
   */
  @Prop({ type: Object }) enrollmentStatus?: EnrollmentStatusRef;
  /** The enrollment it is about, for its outcome events, where `enrollmentStatus` does not name it (a reminder that it will not continue). */
  @Prop() enrollmentId?: string;
  /**
   * Messages about a bank or tax profile: which, at which revision ("could not validate": ProfileActionRequired), or with
   * which expiry (TaxProfileExpiring). A waiting email is withdrawn once the profile has a later revision, or its forms
   * another expiry (ProfileProgressRepository). Absent on other messages, and on messages written before it existed.
   */
  @Prop({ type: Object }) profile?: { profileId: string; revision?: number; expiresAt?: Date };
  /** An invitation email gathered into a digest (HELD, DIGESTING, then as the digest ends): which, and its line there. */
  @Prop({ type: Object }) digest?: DigestEntry;
  /** An invitation email sent within a digest: the digest email's id (its Message-ID). */
  @Prop() sentIn?: string;
  /**
   * An invitation email DIGESTING: the claim of its digest that took it (InvitationDigests' claimNumber: the digest's
   * attempts, above every claim's before an operator sent it again). An earlier claim, stalled past its lease, takes it
   * back no more (InvitationDigests.compose).
   */
  @Prop() digestClaim?: number;
  /**
   * An email not sent from this instant on: withdrawn instead (momentPassed). What it asks is too late then (a renewal
   * reminder, an invitation: its fiscal year's end), or what it tells is past (a tax profile "expires on": its expiry).
   */
  @Prop() sendBefore?: Date;

  @Prop({ required: true }) template!: string;
  @Prop({ required: true }) subject!: string;
  @Prop({ required: true }) text!: string;
  /** EMAIL only: the HTML part. */
  @Prop() html?: string;
  /** Where the message points (Get Started, the enrollment, the profiles page). */
  @Prop() link?: string;

  @Prop({ required: true, type: String, enum: MessageStatuses }) status!: MessageStatus;
  @Prop({ required: true, default: 0 }) attempts!: number;
  /** EMAIL: when the worker may (re)try it. */
  @Prop() nextAttemptAt?: Date;
  /** EMAIL while SENDING: the claim expires then, and another worker (or this one after a restart) retries. */
  @Prop() leaseUntil?: Date;
  /** EMAIL while SENDING: which claim holds it, so a worker whose lease was taken over cannot record an outcome. */
  @Prop() leaseToken?: string;
  @Prop() lastError?: string;
  /**
   * EMAIL: how many times an operator sent it again after it FAILED (ResendFailedEmails); absent before the first. Its
   * outcome events after a resend are new events (their ids and `resend` say which resend they follow).
   */
  @Prop() resends?: number;
  /** EMAIL: when an operator last sent it again (a window does not take it back after that: ResendFailedEmails). */
  @Prop() resentAt?: Date;
  @Prop() sentAt?: Date;
  @Prop() failedAt?: Date;
  /** The server's answer to the accepted message (EMAIL). */
  @Prop() smtpResponse?: string;

  /** INBOX: read by its recipient. */
  @Prop({ default: false }) read!: boolean;
  @Prop() readAt?: Date;

  @Prop({ required: true }) createdAt!: Date;
}

/**
 * The emails a worker may claim at `now`, as the two branches of one `$or` under `channel: 'EMAIL'`: waiting and their
 * time has come, or SENDING under a lease that ran out (a worker that crashed). DeliverEmail claims them;
 * EmailBacklog counts them for /metrics.
 */
export function dueEmailBranches(now: Date) {
  return {
    waiting: { status: { $in: ['PENDING', 'RETRY'] }, nextAttemptAt: { $lte: now } },
    abandoned: { status: 'SENDING', leaseUntil: { $lte: now } },
  };
}

export const MessageSchema = SchemaFactory.createForClass(Message);
MessageSchema.plugin(outboxPlugin);
/** The worker's claim query: due emails first. */
MessageSchema.index({ channel: 1, status: 1, nextAttemptAt: 1 });
/**
 * The guards of claims by id and of lease holders' writes (`deliver-email.use-case.ts`). Unique because `_id` is;
 * MongoDB would use the `_id` index anyway, but mongo-java-server (the local server) uses an index only when the
 * filter's keys are exactly its keys, and scans every message otherwise.
 */
MessageSchema.index({ _id: 1, attempts: 1 }, { unique: true });
MessageSchema.index({ _id: 1, leaseToken: 1 }, { unique: true });
/** The inbox: one user's entries in one partner, newest first (ties by id, the page's sort), and their unread count. */
MessageSchema.index({ userId: 1, partnerId: 1, channel: 1, createdAt: -1, _id: -1 });
MessageSchema.index({ userId: 1, partnerId: 1, channel: 1, read: 1 });
/** The inbox's bank-profile actions that record no audience (InboxRepository.hiddenBankProfileActions), on every read. */
MessageSchema.index({ userId: 1, partnerId: 1, channel: 1, template: 1 });
/**
 * The invitation emails a digest gathered (InvitationDigests): once per digest sent (mongo-java-server, which uses
 * unique indexes only, scans; each email is then written by `{ _id, leaseToken }`). `digest.id` alone: a digest
 * gathers a handful, whose status is checked on the documents. With `status` beside it, the sparse index held an entry
 * for every message (a compound sparse index leaves out only documents missing all its fields), each rewritten on every
 * status change; a deployment from before keeps `digest.id_1_status_1` until an operator drops it.
 */
MessageSchema.index({ 'digest.id': 1 }, { sparse: true });
/** DeliverEmail's supersession check: an enrollment's status emails, by revision (a filter naming exactly these fields, as mongo-java-server needs). */
MessageSchema.index({ 'enrollmentStatus.enrollmentId': 1, 'enrollmentStatus.revision': 1 }, { sparse: true });
