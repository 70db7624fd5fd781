import { Envelope, InvitationEvent, Recipient } from '@lib/contracts';
import { Injectable } from '@nestjs/common';
import { InvitationMilestone } from '../invitation-progress.schema';
import { InvitationProgressRepository } from '../invitation-progress.repository';

/**
 * Keeps, per invitation, when it was last revoked and when it last reached an Incentives admin
 * (InvitationRevoked; InvitationIssued / InvitationDelivered naming someone), so that an email about it still waiting
 * to be sent can be withdrawn (DeliverEmail). Every such event is recorded, also one too old to notify anyone:
 * it still tells what happened to the invitation. Other types change nothing.
 */
@Injectable()
export class RecordInvitationProgress {
  constructor(private readonly progress: InvitationProgressRepository) {}

  async execute(envelope: Envelope): Promise<void> {
    const data = envelope.data as Partial<InvitationEvent> & { recipients?: Recipient[] };
    const milestone = milestoneOf(envelope.type, data);
    if (!milestone || !data.invitationId || !data.partnerId) return;
    // occurredAt: an ISO-8601 date, as parseEvent checked.
    await this.progress.record(data.invitationId, data.partnerId, milestone, new Date(envelope.occurredAt), data.invitationVersion);
  }
}

function milestoneOf(type: string, data: { recipients?: Recipient[] }): InvitationMilestone | null {
  if (type === 'InvitationRevoked') return 'revoked';
  if ((type === 'InvitationIssued' || type === 'InvitationDelivered') && data.recipients?.length) return 'delivered';
  return null;
}
