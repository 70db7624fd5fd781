import { CONFIG } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import type { NotificationConfig } from '../../config';
import { MessagePlanner, tooOldToNotify } from '../message-planner';
import { MessageWriter, shownInAudience } from '../message-writer';
import { PlannedEvent } from '../planned-event.schema';

/**
 * A message asking someone to act (a rejected profile, an expiring tax profile, an enrollment that will not continue)
 * whose email was cancelled while it waited because its recipient left: deactivated, or no longer in the role it was
 * addressed for (an Incentives admin moved to another location). The event is planned again on the recipient view as
 * it is now; if none of those it finds was told (the one who left aside: made a company admin, they are found again
 * as such), it is told to them: the location's Incentives admins appointed since, or, with none, the partner's Global
 * and Account admins (MessagePlanner's fallback), email and inbox. Otherwise what it asked would reach nobody, and the
 * enrollment could expire at year end without anyone told. An event too old to notify anyone (NOTIFY_MAX_EVENT_AGE_MS)
 * is handed over to nobody. Idempotent: message ids are per (event, recipient, channel), and those told are added to
 * the event's record, so a second cancellation finds them told.
 */
@Injectable()
export class HandOverMessages {
  private readonly logger = new Logger(HandOverMessages.name);

  constructor(
    @InjectModel(PlannedEvent.name) private readonly plannedEvents: Model<PlannedEvent>,
    private readonly planner: MessagePlanner,
    private readonly writer: MessageWriter,
    @Inject(CONFIG) private readonly config: Pick<NotificationConfig, 'NOTIFY_MAX_EVENT_AGE_MS'>,
  ) {}

  /** `leaver`: the recipient whose email was cancelled. The ids of the emails to queue now (none when nothing was handed over). */
  async execute(eventId: string, leaver: string): Promise<string[]> {
    const record = await this.plannedEvents.findById(eventId).lean<PlannedEvent>();
    // Recorded before events kept themselves for this, or a message that asks nothing of anyone.
    if (!record?.handOver) return [];
    const { topic, envelope } = record.handOver;
    if (tooOldToNotify(envelope, this.config.NOTIFY_MAX_EVENT_AGE_MS)) return [];
    const plan = await this.planner.plan(topic, envelope);
    // Nobody to tell any more (a moment passed: its year over, the forms expired).
    if (!plan) return [];
    const recipients = plan.recipients.filter((r) => r.active !== false && shownInAudience(r, plan.audience));
    const told = new Set(record.recipients.filter((userId) => userId !== leaver));
    if (recipients.length === 0 || recipients.some((r) => told.has(r.userId))) return [];
    const due = await this.writer.write(envelope, { ...plan, recipients }, null);
    await this.plannedEvents.updateOne({ _id: eventId }, { $addToSet: { recipients: { $each: recipients.map((r) => r.userId) } } });
    this.logger.log(`${envelope.type} ${eventId}: its recipients left the role while their emails waited; told to ${recipients.length} who hold it now (${plan.template})`);
    return due;
  }
}
