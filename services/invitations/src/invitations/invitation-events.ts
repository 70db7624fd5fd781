import {
  AdminAssignmentRequested,
  decisionRef,
  InvitationEvent,
  InvitationIssued,
  InvitationRevoked,
  LogPosition,
  NoticeSelected,
  Recipient,
} from '@lib/contracts';
import { deterministicId } from './invitation-ids';
import { Invitation } from './invitation.schema';
import { Person } from './invitation-rules';

/**
 * The event payloads of invitations.events.v1, built from the invitation as it is after the change, but for `version`:
 * the version the change's write is guarded by (the one read; absent when the write creates the invitation). The write
 * raises it by one, and the event says so (`invitationVersion`): consumers order one invitation's events by it.
 */
export type InvitationCore = Pick<
  Invitation,
  '_id' | 'programId' | 'programName' | 'partnerId' | 'locationId' | 'fiscalYear' | 'getStartedUrl' | 'cycle' | 'adminsLeft' | 'revokedInCycle'
> & {
  version?: number;
  /** The program view's revision the change was decided by (events only, never stored): `programRevision`. */
  programRevision?: number;
};

function base(invitation: InvitationCore): InvitationEvent & { programRevision?: number } {
  return {
    invitationId: invitation._id,
    programId: invitation.programId,
    ...(invitation.programName !== undefined && { programName: invitation.programName }),
    partnerId: invitation.partnerId,
    locationId: invitation.locationId,
    fiscalYear: invitation.fiscalYear,
    invitationVersion: (invitation.version ?? 0) + 1,
    ...(invitation.programRevision !== undefined && { programRevision: invitation.programRevision }),
  };
}

function recipients(people: Person[]): Recipient[] {
  return people.map(({ userId, email, displayName }) => ({ userId, email, displayName }));
}

/** Email (sender "Partner Center", subject "Partner Incentive Enrollment Invitation") and home-page notice. */
export function invitationIssued(invitation: InvitationCore, people: Person[]): InvitationIssued {
  return {
    ...base(invitation),
    recipients: recipients(people),
    channels: ['EMAIL', 'NOTICE'],
    getStartedUrl: invitation.getStartedUrl,
    requiresEligibility: true,
  };
}

export function adminAssignmentRequested(invitation: InvitationCore, companyAdmins: Person[], { late = false } = {}): AdminAssignmentRequested {
  return { ...base(invitation), recipients: recipients(companyAdmins), ...(late && { late: true }) };
}

export function invitationRevoked(invitation: InvitationCore, reasons: string[], decision?: { eventId: string; decidedAt: Date; position?: LogPosition }): InvitationRevoked {
  return { ...base(invitation), reasons, ...(decision && { decision: decisionRef(decision) }) };
}

export function noticeSelected(invitation: InvitationCore, userId: string): NoticeSelected {
  return { ...base(invitation), userId };
}

/**
 * The wait of the cycle an event belongs to: none for the first one (the ids events had before waiting again
 * existed), `admins-left:<n>` once every Incentives admin left the issued invitation n times.
 */
const wait = (i: InvitationCore): string[] => (i.adminsLeft ? [`admins-left:${i.adminsLeft}`] : []);

/** Deterministic event ids: the same transition of the same cycle (and wait) always has the same id. */
export const InvitationEventIds = {
  issued: (i: InvitationCore) => deterministicId('InvitationIssued', i._id, String(i.cycle)),
  adminRequested: (i: InvitationCore) => deterministicId('AdminAssignmentRequested', i._id, String(i.cycle), ...wait(i)),
  /** A request of the same wait to company admins appointed since it went out: one per set of people asked. */
  adminRequestedLate: (i: InvitationCore, people: Person[]) =>
    deterministicId('AdminAssignmentRequested', i._id, String(i.cycle), ...wait(i), 'late', ...people.map((p) => p.userId).sort()),
  delivered: (i: InvitationCore, people: Person[]) =>
    deterministicId('InvitationDelivered', i._id, String(i.cycle), ...wait(i), ...people.map((p) => p.userId).sort()),
  /** The cycle's first revocation keeps the id it always had; a later one of the same cycle has its own. */
  revoked: (i: InvitationCore) => deterministicId('InvitationRevoked', i._id, String(i.cycle), ...(i.revokedInCycle ? [`revocation:${i.revokedInCycle + 1}`] : [])),
  noticeSelected: (i: InvitationCore, userId: string) => deterministicId('NoticeSelected', i._id, String(i.cycle), userId),
};
