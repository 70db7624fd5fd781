import { Topics } from '@lib/contracts';
import { EventOutbox } from '@lib/messaging';
import { Clock, CONFIG } from '@lib/platform';
import { Inject, Injectable } from '@nestjs/common';
import type { InvitationsConfig } from '../../config';
import { getStartedUrl } from '../invitation-ids';
import { InvitationEventIds, invitationIssued } from '../invitation-events';
import { InvitationRecord, InvitationRepository } from '../invitation.repository';
import { Person } from '../invitation-rules';
import type { DecidedBy } from './issue-invitation.use-case';

/**
 * Delivers an open invitation (AWAITING_ADMIN, or ISSUED to others) to Incentives admins who did not receive it:
 * InvitationDelivered names only them, and each gets a notice. A waiting invitation whose admins had all left is
 * delivered to whoever is its admin now, also to one it reached before (their role given back): they are named again,
 * and keep their notice as it was (one selected once is never listed again). Answers false when the invitation
 * changed since it was read.
 */
@Injectable()
export class DeliverInvitation {
  constructor(
    private readonly invitations: InvitationRepository,
    private readonly outbox: EventOutbox,
    private readonly clock: Clock,
    @Inject(CONFIG) private readonly config: Pick<InvitationsConfig, 'PORTAL_BASE_URL'>,
  ) {}

  /** `current.programRevision`: the program view's revision the delivery was decided by (its event tells it). */
  async execute(current: InvitationRecord & DecidedBy, recipients: Person[]): Promise<boolean> {
    const now = this.clock.now();
    // The link as the portal's address is now (PORTAL_BASE_URL may have changed since the invitation was issued).
    const link = getStartedUrl(this.config.PORTAL_BASE_URL, current);
    const event = this.outbox.event(Topics.invitations, {
      type: 'InvitationDelivered',
      data: invitationIssued({ ...current, getStartedUrl: link }, recipients),
      eventId: InvitationEventIds.delivered(current, recipients),
    });
    const known = new Set(current.recipients.map((r) => r.userId));
    const added = recipients.filter((person) => !known.has(person.userId));
    const waitEnded = (['adminRequestPending', 'askedAdmins'] as const).filter((field) => current[field] !== undefined);
    return this.invitations.update(
      current._id,
      current.version,
      {
        set: {
          state: 'ISSUED',
          getStartedUrl: link,
          recipients: [...current.recipients, ...added.map((person) => ({ ...person, deliveredAt: now }))],
          pendingNotices: [...current.pendingNotices, ...added.map((person) => person.userId)],
          issuedAt: current.issuedAt ?? now,
        },
        // Delivered: nobody needs asking for an Incentives admin any more.
        ...(waitEnded.length > 0 && { unset: [...waitEnded] }),
      },
      [event],
    );
  }
}
