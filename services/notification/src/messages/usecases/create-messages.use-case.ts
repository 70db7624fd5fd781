import { Envelope } from '@lib/contracts';
import { BatchLoader, bulkWriteBatcher, byIdLoader } from '@lib/messaging';
import { CONFIG } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import type { NotificationConfig } from '../../config';
import { DeliveryWorker } from '../../delivery/delivery-worker';
import { IdentityCatchUp } from '../../recipients/identity-catch-up';
import { MessagePlan, MessagePlanner, needsSomeone, tooOldToNotify } from '../message-planner';
import { MessageWriter, shownInAudience } from '../message-writer';
import { PlannedEvent } from '../planned-event.schema';

/**
 * Turns one consumed domain event into its messages (MessageWriter: one document per (event, recipient, channel),
 * inserted only if absent), and records whom it told (PlannedEvent). A redelivered event therefore creates nothing new
 * and publishes nothing new, and one handled again after the ledger lost it tells nobody it did not tell the first
 * time. Nothing is sent here: emails are queued for the delivery worker.
 */
@Injectable()
export class CreateMessages {
  private readonly logger = new Logger(CreateMessages.name);

  constructor(
    @InjectModel(PlannedEvent.name) private readonly plannedEvents: Model<PlannedEvent>,
    private readonly planner: MessagePlanner,
    private readonly writer: MessageWriter,
    private readonly worker: DeliveryWorker,
    private readonly identity: IdentityCatchUp,
    @Inject(CONFIG) private readonly config: Pick<NotificationConfig, 'NOTIFY_MAX_EVENT_AGE_MS'>,
  ) {
    this.planned = byIdLoader((ids) => this.plannedEvents.find({ _id: { $in: ids } }).lean<PlannedEvent[]>());
  }

  /** Events handled at the same time look up whether they were planned before with one query. */
  private readonly planned: BatchLoader<string, PlannedEvent>;

  /** `stopping`: the consumer's (ConsumedEvent.stopping), which ends a wait for the identity events early. */
  async execute(topic: string, envelope: Envelope, stopping?: () => boolean): Promise<void> {
    if (tooOldToNotify(envelope, this.config.NOTIFY_MAX_EVENT_AGE_MS)) {
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
    const recordPlan = () => (before || (recipients.length === 0 && !current) ? Promise.resolve() : this.record(topic, envelope, plan!, recipients));
    if (plan.recipients.length === 0) {
      if (!before) this.logger.log(`${envelope.type} ${envelope.eventId}: nobody to notify (${plan.template})`);
      await recordPlan();
      return;
    }
    const due = await this.writer.write(envelope, plan, before ? null : recordPlan);
    if (due.length) this.worker.enqueue(due, 0);
  }

  /**
   * Records whom the event was told (PlannedEvent), and for a message asking someone to act, the event itself: told to
   * whoever holds the role instead if its recipients leave it while their emails wait (HandOverMessages). Events
   * handled at the same time write theirs with one command.
   */
  private async record(topic: string, envelope: Envelope, plan: MessagePlan, recipients: string[]): Promise<void> {
    const handOver = recipients.length > 0 && needsSomeone(plan.template) ? { handOver: { topic, envelope } } : {};
    const update = { $setOnInsert: { recipients, plannedAt: new Date(), ...handOver } };
    await bulkWriteBatcher(this.plannedEvents.collection as never).write({ updateOne: { filter: { _id: envelope.eventId }, update, upsert: true } } as never);
  }
}
