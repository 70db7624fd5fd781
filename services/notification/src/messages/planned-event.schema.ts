import { Envelope } from '@lib/contracts';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/**
 * That a domain event was turned into messages, and for whom (CreateMessages). Message ids (`eventId:userId:channel`)
 * keep an event from reaching its recipients twice, but recipients chosen by role are chosen from the view as it is
 * when the event is handled: an event handled again after the consumed-event ledger lost it (an entry past
 * PROCESSED_EVENTS_RETENTION_MS, a consumer group started anew on the same database, its offsets reset) would reach
 * whoever holds the role now, with news that was not theirs (an admin appointed since told of last week's rejection,
 * with the profile's details). Handled again, it is told to these recipients only, and only where their messages are
 * missing (a handler that failed between the two writes). Written with the messages, and for an event that found
 * nobody to tell on a view as of the event. Needed only while the event may still notify anyone
 * (NOTIFY_MAX_EVENT_AGE_MS): PlannedEventRetention removes them after that.
 */
@Schema({ collection: 'planned_events', versionKey: false })
export class PlannedEvent {
  /** The event's id. */
  @Prop({ type: String }) _id!: string;
  /** The users it was told to (every channel), after every check of the plan. */
  @Prop({ type: [String], required: true }) recipients!: string[];
  @Prop({ required: true }) plannedAt!: Date;
  /**
   * A message asking someone to act (MessagePlanner's needsSomeone) told to someone: the event, planned again when its
   * recipients leave the role while their emails wait, to tell whoever holds it now (HandOverMessages).
   */
  @Prop({ type: Object }) handOver?: { topic: string; envelope: Envelope };
  /** Those it was handed over to (also in `recipients`): a later cancellation says it was handed over. */
  @Prop({ type: [String] }) handedOverTo?: string[];
}
export const PlannedEventSchema = SchemaFactory.createForClass(PlannedEvent);
