import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/**
 * What this service knows of one invitation, from invitations.events.v1: when it was last revoked and when it last
 * reached an Incentives admin, as the invitation's version the event told of (`invitationVersion`) and as the event's
 * `occurredAt`. An email about the invitation still waiting to be sent is compared with it (`withdrawalOf`): by
 * versions when both sides have one, by times otherwise (events written before versions existed). Both are kept with
 * `$max`: a redelivered or replayed event changes nothing, and the order the events are applied in does not matter.
 * An invitation id is reused when the invitation is issued again after a revocation (a new cycle), so only the order
 * tells whether a revocation came after an email's event; versions tell it whatever the writers' clocks said.
 */
@Schema({ collection: 'invitation_progress', versionKey: false })
export class InvitationProgress {
  /** The invitation's id (`invitationId` of its events). */
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) partnerId!: string;
  /** `occurredAt` of its latest InvitationRevoked. */
  @Prop() revokedAt?: Date;
  /** `invitationVersion` of its latest InvitationRevoked that had one. */
  @Prop() revokedVersion?: number;
  /** `occurredAt` of its latest InvitationIssued or InvitationDelivered naming at least one Incentives admin. */
  @Prop() deliveredAt?: Date;
  /** `invitationVersion` of the latest of those that had one. */
  @Prop() deliveredVersion?: number;
}

export const InvitationProgressSchema = SchemaFactory.createForClass(InvitationProgress);

export type InvitationMilestone = 'revoked' | 'delivered';
