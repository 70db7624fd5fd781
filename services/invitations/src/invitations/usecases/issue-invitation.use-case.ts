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
import { Person, personOf } from '../invitation-rules';

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
    let event: OutboxEntry | undefined;
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
      const companyAdmins = await this.companyAdmins(key.partnerId);
      // Nobody to ask yet (the decision came before identity's events told of the partner's admins): the request
      // waits for the first one (askCompanyAdmins), instead of going out to nobody, once and for all.
      const pending = companyAdmins.length === 0;
      state = { state: 'AWAITING_ADMIN', recipients: [], pendingNotices: [], awaitingAdminSince: now, reasons: [], adminRequestPending: pending };
      event = pending ? undefined : this.adminRequest(core, companyAdmins);
    }

    const events = event ? [event] : [];
    if (!current) return this.invitations.create({ ...core, ...state } as Omit<Invitation, 'version'>, events);
    const stale: Array<keyof Invitation> = recipients.length ? ['revokedAt', 'awaitingAdminSince', 'adminRequestPending'] : ['revokedAt', 'issuedAt'];
    return this.invitations.update(invitationId, current.version, { set: { ...core, ...state }, unset: stale }, events);
  }

  /**
   * A waiting invitation whose request to assign an Incentives admin could not go out (no Global or Account admin
   * known then): it goes out now to `companyAdmins` (the caller read them), with the event id the request of this
   * cycle always has. Answers false when the invitation changed since it was read.
   */
  async askCompanyAdmins(current: InvitationRecord, companyAdmins: Person[]): Promise<boolean> {
    return this.invitations.update(current._id, current.version, { set: { adminRequestPending: false } }, [this.adminRequest(current, companyAdmins)]);
  }

  private adminRequest(core: Pick<Invitation, '_id' | 'programId' | 'partnerId' | 'locationId' | 'fiscalYear' | 'cycle' | 'getStartedUrl'> & { programName?: string }, companyAdmins: Person[]): OutboxEntry {
    return this.outbox.event(Topics.invitations, {
      type: 'AdminAssignmentRequested',
      data: adminAssignmentRequested(core, companyAdmins),
      eventId: InvitationEventIds.adminRequested(core),
    });
  }

  private async companyAdmins(partnerId: string): Promise<Person[]> {
    return (await this.policy.companyAdmins(partnerId)).map(personOf);
  }
}
