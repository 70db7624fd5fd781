import { Envelope } from '@lib/contracts';
import { BatchLoader, bulkWriteBatcher, byIdLoader, EventOutbox, isDuplicateKey, OutboxEntry, PendingOutboxes, Tracing } from '@lib/messaging';
import { CONFIG } from '@lib/platform';
import { Inject, Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { AnyBulkWriteOperation, Model } from 'mongoose';
import type { NotificationConfig } from '../config';
import { DeliveryMetrics } from '../delivery/delivery-metrics';
import { InvitationDigests, OpenDigest } from '../delivery/invitation-digests';
import { Addressee, inAudience } from '../recipients/recipient-directory';
import { TemplateRenderer } from '../rendering/template-renderer';
import { Audience, Message, messageId } from './message.schema';
import type { MessagePlan } from './message-planner';
import { outcomeEvent } from './notification-events';

/**
 * Writes a plan's messages: one document per (event, recipient, channel) with the id `${eventId}:${userId}:${channel}`,
 * inserted only if absent (a redelivered event writes nothing new and publishes nothing new). Emails are left PENDING
 * for the delivery worker (or HELD in a digest); inbox entries are delivered by being written, and their
 * NotificationSent travels in the same insert (outbox). Used by CreateMessages (an event consumed) and HandOverMessages
 * (an email whose recipient left, told to whoever holds the role now); it sends nothing and queues nothing itself.
 */
@Injectable()
export class MessageWriter {
  constructor(
    @InjectModel(Message.name) private readonly messages: Model<Message>,
    private readonly renderer: TemplateRenderer,
    private readonly outbox: EventOutbox,
    private readonly metrics: DeliveryMetrics,
    private readonly digests: InvitationDigests,
    @Inject(CONFIG) private readonly config: Pick<NotificationConfig, 'MAIL_FROM_NAME'>,
  ) {
    this.existing = byIdLoader((ids) => this.messages.find({ _id: { $in: ids } }).select('_id status digest.id').lean<Existing[]>());
  }

  /** Events handled at the same time look their message ids up with one query. */
  private readonly existing: BatchLoader<string, Existing>;

  /**
   * The plan's messages for its recipients, where missing. `recordPlan`: writes whom the event was told, with the
   * messages (null: recorded already). The ids of the emails to queue now.
   */
  async write(envelope: Envelope, plan: MessagePlan, recordPlan: (() => Promise<void>) | null): Promise<string[]> {
    // Dated when written, after any wait: an entry dated before the wait would sort below newer ones in the inbox, and
    // its email would count the wait as time spent waiting to be sent (notification_email_oldest_due_seconds).
    const createdAt = new Date();
    const channels = plan.channels;
    // What an email about an invitation is checked against before it is sent (InvitationProgressRepository).
    const invitation = plan.invitationId
      ? {
          invitationId: plan.invitationId,
          occurredAt: new Date(envelope.occurredAt),
          ...(plan.invitationVersion !== undefined && { version: plan.invitationVersion }),
          ...plan.invitationOf,
        }
      : undefined;
    // Each message with its id and channel, as built: what follows needs them, not a parse of the operation. An
    // invitation email gathered into a digest (InvitationDigests) names it; the digests are written first.
    const planned: Array<{ id: string; channel: Message['channel']; digest?: { id: string }; operation: AnyBulkWriteOperation<Message> }> = [];
    const digests = new Map<string, { digest: OpenDigest; first: Omit<Message, '_id'> }>();
    // Messages of a redelivered event exist already: leave them untouched (no write at all, so none can race the
    // relay or the worker on the same document); the upsert below still guards inserts racing each other. Read before
    // the messages are built: an email written already is not counted again toward its recipient's digest.
    const ids = plan.recipients.flatMap((recipient) => channels.map((channel) => messageId(envelope.eventId, recipient.userId, channel)));
    const found = (await Promise.all(ids.map((id) => this.existing.load(id)))).flatMap((m) => (m ? [m] : []));
    const existing = new Set(found.map((m) => m._id));
    for (const recipient of plan.recipients) {
      const rendered = renderFor(this.renderer, plan, recipient, this.config.MAIL_FROM_NAME);
      for (const channel of channels) {
        const id = messageId(envelope.eventId, recipient.userId, channel);
        const gathered =
          channel === 'EMAIL' && plan.template === 'invitation' && !existing.has(id) ? this.digests.gather(recipient.userId, plan.partnerId, createdAt, id) : null;
        const message: Message = {
          _id: id,
          channel,
          partnerId: plan.partnerId,
          ...(plan.locationId !== undefined && { locationId: plan.locationId }),
          userId: recipient.userId,
          email: recipient.email,
          ...(recipient.displayName !== undefined && { displayName: recipient.displayName }),
          causationEventId: envelope.eventId,
          causationEventType: envelope.type,
          correlationId: envelope.correlationId,
          ...(invitation && { invitation }),
          ...(plan.enrollmentStatus && { enrollmentStatus: plan.enrollmentStatus }),
          // Where enrollmentStatus does not name it already (a reminder that it will not continue).
          ...(plan.enrollmentId && !plan.enrollmentStatus && { enrollmentId: plan.enrollmentId }),
          ...(plan.profile && { profile: plan.profile }),
          ...(plan.sendBefore && channel === 'EMAIL' && { sendBefore: plan.sendBefore }),
          template: plan.template,
          subject: rendered.subject,
          text: channel === 'INBOX' ? rendered.inboxText : rendered.text,
          link: plan.link,
          ...(shownInAudience(recipient, plan.audience) && { audience: plan.audience }),
          // Gathered: never due itself (no `nextAttemptAt`); its digest takes it.
          ...(channel === 'INBOX'
            ? { status: 'SENT' as const, sentAt: createdAt }
            : {
                html: rendered.html,
                ...Tracing.currentContext(),
                ...(gathered
                  ? { status: 'HELD' as const, digest: { id: gathered.id, ...digestLine(plan.context) } }
                  : { status: 'PENDING' as const, nextAttemptAt: createdAt }),
              }),
          attempts: channel === 'EMAIL' ? 0 : 1,
          read: false,
          createdAt,
        };
        const outbox: OutboxEntry[] = channel === 'INBOX' ? [outcomeEvent(this.outbox, message, { attempts: 1 })] : [];
        const { _id, ...written } = message;
        if (gathered && !digests.has(gathered.id)) digests.set(gathered.id, { digest: gathered, first: written });
        // Gathered: no attempts of its own, so that no claim by id (`{ _id, attempts }`) ever takes it by itself.
        const { attempts: _attempts, ...heldFields } = written;
        const fields = gathered ? heldFields : written;
        planned.push({
          id: _id,
          channel,
          ...(gathered && { digest: { id: gathered.id } }),
          operation: { updateOne: { filter: { _id }, update: { $setOnInsert: { ...fields, ...(outbox.length && { outbox }) } }, upsert: true } },
        });
      }
    }
    const missing = planned.filter((m) => !existing.has(m.id));
    if (missing.length === 0) {
      // Gathered into a digest sent since (a handler that failed before it could tell): sent by themselves.
      const due = await this.digests.releaseLate(found.filter((m) => m.status === 'HELD'));
      if (recordPlan) {
        // Messages written, their record not (a handler that failed between the two, or an event handled before records
        // existed): recorded now. Its emails may not have been queued, nor its inbox entries' events relayed, when the
        // handler failed: both are harmless for what was done already (a claim is guarded, an empty outbox is nothing).
        await recordPlan();
        this.outbox.committed();
        // Never one HELD in a digest: a claim by id would take it.
        const held = new Set(found.filter((m) => m.status === 'HELD' || m.status === 'DIGESTING').map((m) => m._id));
        due.push(...planned.filter((m) => m.channel === 'EMAIL' && !held.has(m.id)).map((m) => m.id));
      }
      return due;
    }
    // The digests before the emails they gather: one of those never waits for a digest that is not written.
    await Promise.all([...digests.values()].map(({ digest, first }) => this.digests.open(digest, first)));
    // The plain driver: the documents are built here, whole, and mongoose's casting of every operation (the
    // outbox subdocuments above all) cost more CPU than the rest of the handler. The relay is told directly.
    // Events handled at the same time write their messages with one command.
    const batcher = bulkWriteBatcher(this.messages.collection as never);
    const writes = await PendingOutboxes.writing(
      this.messages,
      missing.filter((m) => m.channel === 'INBOX').map((m) => m.id),
      () =>
        Promise.allSettled([...missing.map((m) => batcher.write(m.operation as never)), recordPlan?.()]),
    );
    // A duplicate: two deliveries of one event racing, the other insert won, which is the same message (or record).
    const failed = writes.find((w): w is PromiseRejectedResult => w.status === 'rejected' && !isDuplicateKey(w.reason));
    if (failed) throw failed.reason;
    this.outbox.committed();
    for (const m of missing) this.metrics.created.inc({ channel: m.channel, template: plan.template });
    const emails = missing.filter((m) => m.channel === 'EMAIL' && !m.digest).map((m) => m.id);
    // Gathered, but their digest went out before they were written (a handler held up past its time): by themselves.
    emails.push(...(await this.digests.releaseLate(missing.filter((m) => m.digest).map((m) => ({ _id: m.id, digest: m.digest })))));
    return emails;
  }
}

/** A message as the existence check reads it. */
type Existing = Pick<Message, '_id' | 'status'> & { digest?: { id: string } };

/** An invitation email's line in a digest, from the plan's context (MessagePlanner.invitation). */
function digestLine(context: Record<string, unknown>): { programLabel: string; locationLabel: string; fiscalYear: string } {
  return { programLabel: String(context.programLabel), locationLabel: String(context.locationLabel), fiscalYear: String(context.fiscalYear) };
}

/** The plan's message for one of its recipients: greeted by their name (else their address), with what is theirs. */
export function renderFor(renderer: TemplateRenderer, plan: MessagePlan, recipient: Addressee, senderName: string) {
  return renderer.render(plan.template, {
    ...plan.context,
    link: plan.link,
    senderName,
    recipientName: recipient.displayName || recipient.email,
    ...plan.recipientContext?.(recipient),
  });
}

/**
 * Whether the recipient view shows the recipient in the audience now: only then does a message record its audience, to
 * be re-checked before an email is sent and whenever the inbox is read. A recipient named by the event whom the view
 * does not know yet, or does not know in that role even once it has caught up to the event's time (CreateMessages waits
 * for that; a wait that gives up leaves it behind), is trusted as named.
 */
export function shownInAudience(recipient: Addressee, audience: Audience): boolean {
  return recipient.roles !== undefined && inAudience({ roles: recipient.roles }, audience);
}
