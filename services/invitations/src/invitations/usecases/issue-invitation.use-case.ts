import { AccessPolicy } from '@lib/access';
import { Topics } from '@lib/contracts';
import { EventOutbox, OutboxEntry } from '@lib/messaging';
import { Inject, Injectable } from '@nestjs/common';
import { CONFIG } from '@lib/platform';
import { InvitationsConfig } from '../../config';
import { adminAssignmentRequested, InvitationEventIds, invitationIssued } from '../invitation-events';
import { getStartedUrl, InvitationKey } from '../invitation-ids';
import { InvitationRecord, InvitationRepository } from '../invitation.repository';
import { Invitation } from '../invitation.schema';
import { Person } from '../invitation-rules';

export interface IssueInvitationCommand {
  invitationId: string;
  key: InvitationKey & { partnerId: string };
  programName: string;
  /** The invitation as read (a revoked one is issued again as a new cycle), or null for a first issue. */
  current: InvitationRecord | null;
  /** The location's Incentives admins; none means the invitation waits for one. */
  recipients: Person[];
}

/**
 * Issues the invitation of an eligible location: to its Incentives admins (InvitationIssued: email + notice), or,
 * with nobody to receive it, AWAITING_ADMIN with AdminAssignmentRequested to the partner's Global and Account
 * admins. Answers false when the invitation changed since it was read.
 */
@Injectable()
export class IssueInvitation {
  constructor(
    private readonly invitations: InvitationRepository,
    private readonly policy: AccessPolicy,
    private readonly outbox: EventOutbox,
    @Inject(CONFIG) private readonly config: InvitationsConfig,
  ) {}

  async execute({ invitationId, key, programName, current, recipients }: IssueInvitationCommand): Promise<boolean> {
    const now = new Date();
    const core = {
      _id: invitationId,
      programId: key.programId,
      programName,
      partnerId: key.partnerId,
      locationId: key.locationId,
      fiscalYear: key.fiscalYear,
      cycle: (current?.cycle ?? 0) + 1,
      getStartedUrl: getStartedUrl(this.config.PORTAL_BASE_URL, key),
    };

    let state: Partial<Invitation>;
    let event: OutboxEntry;
    if (recipients.length) {
      state = {
        state: 'ISSUED',
        recipients: recipients.map((person) => ({ ...person, deliveredAt: now })),
        pendingNotices: recipients.map((person) => person.userId),
        issuedAt: now,
        reasons: [],
      };
      event = this.outbox.event(Topics.invitations, {
        type: 'InvitationIssued',
        data: invitationIssued(core, recipients),
        eventId: InvitationEventIds.issued(core),
      });
    } else {
      const companyAdmins = (await this.policy.companyAdmins(key.partnerId)).map((user) => ({
        userId: user._id,
        email: user.email,
        displayName: user.displayName,
      }));
      state = { state: 'AWAITING_ADMIN', recipients: [], pendingNotices: [], awaitingAdminSince: now, reasons: [] };
      event = this.outbox.event(Topics.invitations, {
        type: 'AdminAssignmentRequested',
        data: adminAssignmentRequested(core, companyAdmins),
        eventId: InvitationEventIds.adminRequested(core),
      });
    }

    if (!current) return this.invitations.create({ ...core, ...state } as Omit<Invitation, 'version'>, [event]);
    const stale: Array<keyof Invitation> = recipients.length ? ['revokedAt', 'awaitingAdminSince'] : ['revokedAt', 'issuedAt'];
    return this.invitations.update(invitationId, current.version, { set: { ...core, ...state }, unset: stale }, [event]);
  }
}
