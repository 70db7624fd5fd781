import { LogPosition, Topics } from '@lib/contracts';
import { EventOutbox } from '@lib/messaging';
import { Clock } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InvitationEventIds, invitationRevoked } from '../invitation-events';
import { InvitationRecord, InvitationRepository } from '../invitation.repository';

/**
 * The location lost eligibility before enrolling: the invitation is revoked and every notice of it disappears.
 * Answers false when the invitation changed since it was read.
 */
@Injectable()
export class RevokeInvitation {
  constructor(
    private readonly invitations: InvitationRepository,
    private readonly outbox: EventOutbox,
    private readonly clock: Clock,
  ) {}

  /** `decision`: the not-eligible decision behind it, named in the event. */
  async execute(current: InvitationRecord, reasons: string[], decision?: { eventId: string; decidedAt: Date; position?: LogPosition }): Promise<boolean> {
    const event = this.outbox.event(Topics.invitations, {
      type: 'InvitationRevoked',
      data: invitationRevoked(current, reasons, decision),
      eventId: InvitationEventIds.revoked(current),
    });
    // Nobody needs asking for an Incentives admin any more (issued again later, it asks anew if it must); one marked
    // ENROLLED whose enrollment's completion was taken back (nextTransition) is not enrolled any more.
    const unset = (['adminRequestPending', 'askedAdmins', 'enrolledAt'] as const).filter((field) => current[field] !== undefined);
    return this.invitations.update(
      current._id,
      current.version,
      {
        set: { state: 'REVOKED', revokedAt: this.clock.now(), reasons, pendingNotices: [], revokedInCycle: (current.revokedInCycle ?? 0) + 1 },
        ...(unset.length > 0 && { unset: [...unset] }),
      },
      [event],
    );
  }
}
