import type { Envelope } from '@lib/contracts';
import { CONFIG } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import type { NotificationConfig } from '../../config';
import { Message, messageId } from '../message.schema';
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
    @InjectModel(Message.name) private readonly messages: Model<Message>,
    private readonly planner: MessagePlanner,
    private readonly writer: MessageWriter,
    @Inject(CONFIG) private readonly config: Pick<NotificationConfig, 'NOTIFY_MAX_EVENT_AGE_MS'>,
  ) {}

  /**
   * `leaver`: the recipient whose email was cancelled. `due`: the ids of the emails to queue now; `handedOver`: whether
   * what it asks went to someone holding the role now, by this call or an earlier one (another leaver's, or this one's
   * before a stop: their messages and the record written, the cancellation not). `stillServed`: the locations a bank
   * profile serves now, fewer than when the event was written (its locationIds narrowed at the same revision): the
   * event is planned as serving those.
   */
  async execute(eventId: string, leaver: string, stillServed?: string[]): Promise<{ due: string[]; handedOver: boolean }> {
    const record = await this.plannedEvents.findById(eventId).lean<PlannedEvent>();
    // Recorded before events kept themselves for this, or a message that asks nothing of anyone.
    if (!record?.handOver) return { due: [], handedOver: false };
    const before = { due: [], handedOver: (record.handedOverTo?.length ?? 0) > 0 };
    const { topic, envelope } = record.handOver;
    if (tooOldToNotify(envelope, this.config.NOTIFY_MAX_EVENT_AGE_MS)) return before;
    const plan = await this.planner.plan(topic, stillServed ? servingOnly(envelope, stillServed) : envelope);
    // Nobody to tell any more (a moment passed: its year over, the forms expired).
    if (!plan) return before;
    const recipients = plan.recipients.filter((r) => r.active !== false && shownInAudience(r, plan.audience));
    const told = new Set(record.recipients.filter((userId) => userId !== leaver));
    if (recipients.length === 0 || recipients.some((r) => told.has(r.userId))) return before;
    const due = await this.writer.write(envelope, { ...plan, recipients }, null);
    // The leaver found again in another role (made a company admin, the location left without an Incentives admin):
    // their messages of it exist, so none is written for them; their inbox entry, addressed for the role they left and
    // hidden from them since, is shown to them again under the role they hold now (their email is not sent again).
    if (recipients.some((r) => r.userId === leaver)) {
      await this.messages.updateOne({ _id: messageId(eventId, leaver, 'INBOX') }, { $set: { audience: plan.audience } });
    }
    const ids = recipients.map((r) => r.userId);
    await this.plannedEvents.updateOne({ _id: eventId }, { $addToSet: { recipients: { $each: ids }, handedOverTo: { $each: ids } } });
    this.logger.log(`${envelope.type} ${eventId}: its recipients left the role while their emails waited; told to ${recipients.length} who hold it now (${plan.template})`);
    return { due, handedOver: true };
  }
}

/** A bank profile's event as if written serving only `locationIds` (the ones it serves now); any other as it is. */
export function servingOnly(envelope: Envelope, locationIds: string[]): Envelope {
  const data = envelope.data as { profileKind?: string; locationIds?: string[] };
  return data.profileKind === 'BANK' ? { ...envelope, data: { ...data, locationIds } } : envelope;
}
