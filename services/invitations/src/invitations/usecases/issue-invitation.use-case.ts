import { AccessPolicy } from '@lib/access';
import { Topics } from '@lib/contracts';
import { EventOutbox, OutboxEntry } from '@lib/messaging';
import { Inject, Injectable } from '@nestjs/common';
import { Clock, CONFIG } from '@lib/platform';
import { InvitationsConfig } from '../../config';
import { adminAssignmentRequested, InvitationCore, InvitationEventIds, invitationIssued } from '../invitation-events';
import { getStartedUrl, InvitationKey } from '../invitation-ids';
import { InvitationRecord, InvitationRepository } from '../invitation.repository';
import { Invitation } from '../invitation.schema';
import { HistoryFloors } from '../catch-up/history-floors';
import { Person, personOf } from '../invitation-rules';

export interface IssueInvitationCommand {
  invitationId: string;
  key: InvitationKey & { partnerId: string };
  programName: string;
  /** The invitation as read (a revoked one is issued again as a new cycle), or null for a first issue. */
  current: InvitationRecord | null;
  /** The location's Incentives admins; none means the invitation waits for one. */
  recipients: Person[];
  /** The program view's revision the issue was decided by (its events tell it: `programRevision`). */
  programRevision?: number;
}

/** The program view's revision a change was decided by, for its events (`programRevision`); never stored. */
export type DecidedBy = Pick<InvitationCore, 'programRevision'>;

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
    private readonly clock: Clock,
    @Inject(CONFIG) private readonly config: InvitationsConfig,
    private readonly floors: HistoryFloors,
  ) {}

  async execute({ invitationId, key, programName, current, recipients, programRevision }: IssueInvitationCommand): Promise<boolean> {
    const now = this.clock.now();
    // A first issue of an invitation an earlier deployment published events of (its database lost): above them.
    const floor = current ? null : await this.floors.of(invitationId);
    const core = {
      _id: invitationId,
      programId: key.programId,
      programName,
      partnerId: key.partnerId,
      locationId: key.locationId,
      fiscalYear: key.fiscalYear,
      cycle: (current?.cycle ?? floor?.above ?? 0) + 1,
      getStartedUrl: getStartedUrl(this.config.PORTAL_BASE_URL, key),
    };
    // What the events tell of: the invitation after this write, guarded by the version read (none: it creates it).
    const written: InvitationCore = { ...core, version: current?.version ?? floor?.above, programRevision };

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
        data: invitationIssued(written, recipients),
        eventId: InvitationEventIds.issued(core),
      });
    } else {
      const companyAdmins = await this.companyAdmins(key.partnerId);
      // Nobody to ask yet (the decision came before identity's events told of the partner's admins): the request
      // waits for the first one (askCompanyAdmins), instead of going out to nobody, once and for all.
      const pending = companyAdmins.length === 0;
      state = {
        state: 'AWAITING_ADMIN',
        recipients: [],
        pendingNotices: [],
        awaitingAdminSince: now,
        reasons: [],
        adminRequestPending: pending,
        askedAdmins: companyAdmins.map((person) => person.userId),
      };
      event = pending ? undefined : this.adminRequest(written, companyAdmins);
    }

    const events = event ? [event] : [];
    if (!current) return this.invitations.create({ ...core, ...state } as Omit<Invitation, 'version'>, events, (floor?.above ?? 0) + 1);
    // A new cycle: its waits and revocations count from none again (adminsLeft, revokedInCycle).
    const stale: Array<keyof Invitation> = recipients.length
      ? ['revokedAt', 'enrolledAt', 'awaitingAdminSince', 'adminRequestPending', 'askedAdmins', 'adminsLeft', 'revokedInCycle']
      : ['revokedAt', 'enrolledAt', 'issuedAt', 'adminsLeft', 'revokedInCycle'];
    return this.invitations.update(invitationId, current.version, { set: { ...core, ...state }, unset: stale }, events);
  }

  /**
   * An ISSUED invitation whose Incentives admins all left (role revoked, user deactivated): AWAITING_ADMIN again, and
   * AdminAssignmentRequested to the partner's Global and Account admins, with an id of its own (`adminsLeft`, counted
   * per cycle: the first request of the cycle, if any, went out under the cycle's id). With no company admin known,
   * the request waits as on a first wait (`adminRequestPending`). The recipients keep their notice state (a notice
   * selected once is never listed again), and receive the invitation again if they become its admins again. Answers
   * false when the invitation changed since it was read.
   */
  async awaitAdminAgain(current: InvitationRecord & DecidedBy): Promise<boolean> {
    const companyAdmins = await this.companyAdmins(current.partnerId);
    const adminsLeft = (current.adminsLeft ?? 0) + 1;
    const pending = companyAdmins.length === 0;
    const events = pending ? [] : [this.adminRequest({ ...current, adminsLeft }, companyAdmins)];
    return this.invitations.update(
      current._id,
      current.version,
      { set: { state: 'AWAITING_ADMIN', awaitingAdminSince: this.clock.now(), adminRequestPending: pending, askedAdmins: companyAdmins.map((person) => person.userId), adminsLeft } },
      events,
    );
  }

  /**
   * A waiting invitation whose request to assign an Incentives admin could not go out (no Global or Account admin
   * known then): it goes out now to `companyAdmins` (the caller read them), with the event id the request of this
   * cycle (and wait: `adminsLeft`) always has. Answers false when the invitation changed since it was read.
   */
  async askCompanyAdmins(current: InvitationRecord & DecidedBy, companyAdmins: Person[]): Promise<boolean> {
    return this.invitations.update(
      current._id,
      current.version,
      { set: { adminRequestPending: false, askedAdmins: companyAdmins.map((person) => person.userId) } },
      [this.adminRequest(current, companyAdmins)],
    );
  }

  /**
   * A waiting invitation whose request went out: `people`, Global or Account admins of the partner since (none of
   * `askedAdmins`), are asked too, by a request naming them alone (its own id), and join `askedAdmins`. Answers false
   * when the invitation changed since it was read.
   */
  async askLateCompanyAdmins(current: InvitationRecord & DecidedBy, people: Person[]): Promise<boolean> {
    return this.invitations.update(
      current._id,
      current.version,
      { set: { askedAdmins: [...(current.askedAdmins ?? []), ...people.map((person) => person.userId)] } },
      [this.adminRequest(current, people, { late: true })],
    );
  }

  /** The wait's request to `companyAdmins`; `late`: to those appointed since it went out (an id per set of them). */
  private adminRequest(core: InvitationCore, companyAdmins: Person[], { late = false } = {}): OutboxEntry {
    return this.outbox.event(Topics.invitations, {
      type: 'AdminAssignmentRequested',
      data: adminAssignmentRequested(core, companyAdmins, { late }),
      eventId: late ? InvitationEventIds.adminRequestedLate(core, companyAdmins) : InvitationEventIds.adminRequested(core),
    });
  }

  private async companyAdmins(partnerId: string): Promise<Person[]> {
    return (await this.policy.companyAdmins(partnerId)).map(personOf);
  }
}
