import { EligibilityDetermined, Envelope } from '@lib/contracts';
import { Injectable } from '@nestjs/common';
import { Transition } from '../invitation-rules';
import { ViewsRepository } from '../views/views.repository';
import { ReconcileInvitation } from './reconcile-invitation.use-case';

/**
 * An eligibility decision for (program, location, fiscal year): kept in the eligibility view (a later decision
 * wins; the same decision twice changes nothing), then the invitation follows: issued, waiting for an admin,
 * revoked, or nothing yet when the program is not known.
 */
@Injectable()
export class RecordEligibilityDecision {
  constructor(
    private readonly views: ViewsRepository,
    private readonly reconcile: ReconcileInvitation,
  ) {}

  async execute(envelope: Envelope<EligibilityDetermined>): Promise<Transition> {
    const invitationId = await this.views.recordDecision(envelope.data, new Date(envelope.occurredAt), envelope.eventId);
    return this.reconcile.execute(invitationId);
  }
}
