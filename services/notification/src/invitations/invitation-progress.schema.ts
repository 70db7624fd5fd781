import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/**
 * What this service knows of one invitation, from invitations.events.v1: when it was last revoked and when it last
 * reached an Incentives admin. An email about the invitation still waiting to be sent is compared with it
 * (`withdrawalOf`). Times are the events' `occurredAt`, kept with `$max`: a redelivered or replayed event changes
 * nothing, and the order the events are applied in does not matter. An invitation id is reused when the invitation is
 * issued again after a revocation (a new cycle), so only times tell whether a revocation came after an email's event.
 */
@Schema({ collection: 'invitation_progress', versionKey: false })
export class InvitationProgress {
  /** The invitation's id (`invitationId` of its events). */
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) partnerId!: string;
  /** `occurredAt` of its latest InvitationRevoked. */
  @Prop() revokedAt?: Date;
  /** `occurredAt` of its latest InvitationIssued or InvitationDelivered naming at least one Incentives admin. */
  @Prop() deliveredAt?: Date;
}

export const InvitationProgressSchema = SchemaFactory.createForClass(InvitationProgress);

export type InvitationMilestone = 'revokedAt' | 'deliveredAt';
