import { Envelope } from '@lib/contracts';
import { BatchLoader, bulkWriteBatcher, byIdLoader, EventOutbox, isDuplicateKey, OutboxEntry, PendingOutboxes, Tracing } from '@lib/messaging';
import { CONFIG } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { AnyBulkWriteOperation, Model } from 'mongoose';
import type { NotificationConfig } from '../../config';
import { DeliveryMetrics } from '../../delivery/delivery-metrics';
import { DeliveryWorker } from '../../delivery/delivery-worker';
import { InvitationDigests, OpenDigest } from '../../delivery/invitation-digests';
import { IdentityCatchUp } from '../../recipients/identity-catch-up';
import { Addressee, inAudience } from '../../recipients/recipient-directory';
import { TemplateRenderer } from '../../rendering/template-renderer';
import { Audience, Message, messageId } from '../message.schema';
import { MessagePlanner } from '../message-planner';
import { outcomeEvent } from '../notification-events';
import { PlannedEvent } from '../planned-event.schema';

/**
 * Turns one consumed domain event into its messages: one document per (event, recipient, channel) with the id
 * `${eventId}:${userId}:${channel}`, inserted only if absent, and records whom it told (PlannedEvent). A redelivered
 * event therefore creates nothing new and publishes nothing new, and one handled again after the ledger lost it tells
 * nobody it did not tell the first time. Nothing is sent here: emails are left PENDING for the delivery worker; inbox
 * entries are delivered by being written, and their NotificationSent travels in the same insert (outbox).
 */
@Injectable()
export class CreateMessages {
  private readonly logger = new Logger(CreateMessages.name);

  constructor(
    @InjectModel(Message.name) private readonly messages: Model<Message>,
    @InjectModel(PlannedEvent.name) private readonly plannedEvents: Model<PlannedEvent>,
    private readonly planner: MessagePlanner,
    private readonly renderer: TemplateRenderer,
    private readonly outbox: EventOutbox,
    private readonly worker: DeliveryWorker,
    private readonly metrics: DeliveryMetrics,
    private readonly identity: IdentityCatchUp,
    private readonly digests: InvitationDigests,
    @Inject(CONFIG) private readonly config: Pick<NotificationConfig, 'MAIL_FROM_NAME' | 'NOTIFY_MAX_EVENT_AGE_MS'>,
  ) {
    this.existing = byIdLoader((ids) => this.messages.find({ _id: { $in: ids } }).select('_id status digest.id').lean<Existing[]>());
    this.planned = byIdLoader((ids) => this.plannedEvents.find({ _id: { $in: ids } }).lean<PlannedEvent[]>());
  }

  /** Events handled at the same time look their message ids, and whether they were planned before, up with one query each. */
  private readonly existing: BatchLoader<string, Existing>;
  private readonly planned: BatchLoader<string, PlannedEvent>;

  /** `stopping`: the consumer's (ConsumedEvent.stopping), which ends a wait for the identity events early. */
  async execute(topic: string, envelope: Envelope, stopping?: () => boolean): Promise<void> {
    if (this.isStale(envelope, new Date())) {
      this.logger.debug(`${envelope.type} ${envelope.eventId} occurred ${envelope.occurredAt}: too old to notify anyone`);
      return;
    }
    // Noted before planning: a wait by another event may show the view caught up after this plan was made from it.
    const covered = this.identity.covers(envelope.occurredAt);
    let current = this.identity.handled(envelope.occurredAt);
    let plan = await this.planner.plan(topic, envelope);
    // Most events tell nobody (no template): nothing more to read for them.
    if (!plan) return;
    // Planned before (handled again after the ledger lost it): told to whom it was told then, where still due.
    const before = await this.planned.load(envelope.eventId);
    if (before?.recipients.length === 0) return;
    // The view may be a view behind the event (a role granted just before it): nobody found, or recipients chosen by
    // role (an admin made admin just before the event, next to those already known), or a recipient the event names
    // whom the view knows without the role or deactivated (granted or reactivated just before the event, or taken
    // away since: the view caught up to the event's time tells which), or does not know yet (created just before it:
    // trusted as named without the wait, their email recorded no audience and was never checked against the role
    // again). Once it has caught up, look again.
    const knownOtherwise = (p: NonNullable<typeof plan>) => p.recipients.some((r) => r.active === false || !shownInAudience(r, p.audience));
    if (!covered && (plan.recipients.length === 0 || plan.fromView || knownOtherwise(plan))) {
      const waited = await this.identity.waitFor(envelope.occurredAt, stopping);
      if (waited !== 'behind') plan = await this.planner.plan(topic, envelope);
      current = waited === 'caught-up' || this.identity.handled(envelope.occurredAt);
    }
    // A view as of the event or later: a known recipient it does not show in the audience has lost the role since the
    // event named them (a Global admin demoted), and is told nothing. Before that, they are trusted as named.
    if (plan && current) {
      const { audience } = plan;
      plan = { ...plan, recipients: plan.recipients.filter((recipient) => recipient.roles === undefined || shownInAudience(recipient, audience)) };
    }
    // Deactivated users never receive anything: one still deactivated in the view (caught up, or after the longest wait).
    if (plan) plan = { ...plan, recipients: plan.recipients.filter((recipient) => recipient.active !== false) };
    if (plan && before) {
      const told = new Set(before.recipients);
      plan = { ...plan, recipients: plan.recipients.filter((recipient) => told.has(recipient.userId)) };
    }
    if (!plan) return;
    // Whom it was told, written with the messages (below), not after them (a round trip more for every such event).
    // Either may land without the other: the record alone, a redelivery writes the messages missing for its
    // recipients; the messages alone, a redelivery plans again as the first time did (from the view as it is then) and
    // writes the record. Nobody told on a view not known to be as of the event (the wait for the identity events gave
    // up) is not recorded: a later reading may find whom it should have told.
    const recipients = plan.recipients.map((r) => r.userId);
    const recordPlan = () => (before || (recipients.length === 0 && !current) ? Promise.resolve() : this.record(envelope.eventId, recipients));
    if (plan.recipients.length === 0) {
      if (!before) this.logger.log(`${envelope.type} ${envelope.eventId}: nobody to notify (${plan.template})`);
      await recordPlan();
      return;
    }
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
      const rendered = this.renderer.render(plan.template, {
        ...plan.context,
        link: plan.link,
        senderName: this.config.MAIL_FROM_NAME,
        recipientName: recipient.displayName || recipient.email,
        ...plan.recipientContext?.(recipient),
      });
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
      const late = await this.digests.releaseLate(found.filter((m) => m.status === 'HELD'));
      if (late.length) this.worker.enqueue(late, 0);
      if (!before) {
        // Messages written, their record not (a handler that failed between the two, or an event handled before records
        // existed): recorded now. Its emails may not have been queued, nor its inbox entries' events relayed, when the
        // handler failed: both are harmless for what was done already (a claim is guarded, an empty outbox is nothing).
        await recordPlan();
        this.outbox.committed();
        // Never one HELD in a digest: a claim by id would take it.
        const held = new Set(found.filter((m) => m.status === 'HELD' || m.status === 'DIGESTING').map((m) => m._id));
        const emails = planned.filter((m) => m.channel === 'EMAIL' && !held.has(m.id)).map((m) => m.id);
        if (emails.length) this.worker.enqueue(emails, 0);
      }
      return;
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
        Promise.allSettled([...missing.map((m) => batcher.write(m.operation as never)), recordPlan()]),
    );
    // A duplicate: two deliveries of one event racing, the other insert won, which is the same message (or record).
    const failed = writes.find((w): w is PromiseRejectedResult => w.status === 'rejected' && !isDuplicateKey(w.reason));
    if (failed) throw failed.reason;
    this.outbox.committed();
    for (const m of missing) this.metrics.created.inc({ channel: m.channel, template: plan.template });
    const emails = missing.filter((m) => m.channel === 'EMAIL' && !m.digest).map((m) => m.id);
    // Gathered, but their digest went out before they were written (a handler held up past its time): by themselves.
    emails.push(...(await this.digests.releaseLate(missing.filter((m) => m.digest).map((m) => ({ _id: m.id, digest: m.digest })))));
    if (emails.length) this.worker.enqueue(emails, 0);
  }

  /** Records whom the event was told (PlannedEvent); events handled at the same time write theirs with one command. */
  private async record(eventId: string, recipients: string[]): Promise<void> {
    const update = { $setOnInsert: { recipients, plannedAt: new Date() } };
    await bulkWriteBatcher(this.plannedEvents.collection as never).write({ updateOne: { filter: { _id: eventId }, update, upsert: true } } as never);
  }

  private isStale(envelope: Envelope, now: Date): boolean {
    const maxAge = this.config.NOTIFY_MAX_EVENT_AGE_MS;
    const occurredAt = Date.parse(envelope.occurredAt);
    return maxAge > 0 && Number.isFinite(occurredAt) && now.getTime() - occurredAt > maxAge;
  }
}

/** A message as the existence check reads it. */
type Existing = Pick<Message, '_id' | 'status'> & { digest?: { id: string } };

/** An invitation email's line in a digest, from the plan's context (MessagePlanner.invitation). */
function digestLine(context: Record<string, unknown>): { programLabel: string; locationLabel: string; fiscalYear: string } {
  return { programLabel: String(context.programLabel), locationLabel: String(context.locationLabel), fiscalYear: String(context.fiscalYear) };
}

/**
 * Whether the recipient view shows the recipient in the audience now: only then does a message record its audience, to
 * be re-checked before an email is sent and whenever the inbox is read. A recipient named by the event whom the view does not know yet,
 * or does not know in that role even once it has caught up to the event's time (execute waits for that; a wait that
 * gives up leaves it behind), is trusted as named.
 */
function shownInAudience(recipient: Addressee, audience: Audience): boolean {
  return recipient.roles !== undefined && inAudience({ roles: recipient.roles }, audience);
}
