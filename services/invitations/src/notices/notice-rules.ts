import { Actor, holdsRole } from '@lib/access';
import { EnrollmentStatus, ProgramState } from '@lib/contracts';
import { enrollableNow, FINAL_STATUSES } from '../invitations/invitation-rules';
import { InvitationState } from '../invitations/invitation.schema';

/** Invitations whose notices can be shown: a revoked one loses them, a waiting one has no recipient yet. */
export const NOTICE_STATES: InvitationState[] = ['ISSUED', 'ENROLLED'];

export const NOTICE_TITLE = 'Partner Incentive Enrollment Invitation';

export type NoticeStatus = 'pending' | 'selected' | 'none';

/** The program as this service knows it now (the state and the fiscal year Enroll enrolls in). */
export interface NoticeProgram {
  state: ProgramState;
  fiscalYear: string;
}

/**
 * The user's notice on an invitation: `pending` (listed), `selected` (never listed again, selecting again answers
 * the same link) or `none`. A recipient who no longer holds the Incentives admin role on the location has none.
 * Neither does anyone while the program is not `OPEN` (Enroll would refuse; the notice comes back if it reopens),
 * nor once the invitation's fiscal year is no longer the program's current one (Get Started would enroll in another
 * year), nor once that year is over at `now` (Enroll refuses it until the program moves to the next year, whose
 * invitations are others), nor once its enrollment ended for good (FINAL_STATUSES: EXPIRED by an operator's rollover
 * ending the year early, or DISCONTINUED before the program's own event arrived): the notice invites to enroll, so it
 * is shown only while that is possible. A notice a revocation
 * removed (not in `pendingNotices`) is none, whatever state the invitation reached since. `enrollment`: the location's
 * enrollment of the invitation, as the enrollment events said it last.
 */
export function noticeStatus(
  invitation: {
    partnerId: string;
    locationId: string;
    fiscalYear: string;
    state: InvitationState;
    recipients: Array<{ userId: string; selectedAt?: Date | null }>;
    /** The recipients whose notice is still to be selected: selecting removes one, a revocation all of them. */
    pendingNotices: string[];
  },
  program: NoticeProgram | null | undefined,
  actor: Pick<Actor, 'userId' | 'partnerId' | 'roles'>,
  now: Date,
  enrollment?: Pick<NoticeEnrollment, 'status'> | null,
): NoticeStatus {
  if (invitation.partnerId !== actor.partnerId || !NOTICE_STATES.includes(invitation.state)) return 'none';
  if (!enrollableNow(program, invitation.fiscalYear, now) || (enrollment && FINAL_STATUSES.includes(enrollment.status))) return 'none';
  if (!holdsRole(actor, 'INCENTIVES_ADMIN', invitation.locationId)) return 'none';
  const recipient = invitation.recipients.find((r) => r.userId === actor.userId);
  if (!recipient) return 'none';
  if (recipient.selectedAt) return 'selected';
  // Removed by a revocation, also when the invitation was marked ENROLLED after it (an enrollment event from another
  // topic, arriving late): no list shows it, so it cannot be selected either.
  return invitation.pendingNotices.includes(actor.userId) ? 'pending' : 'none';
}

/** The location's enrollment of the invitation's program and year, as the enrollment events said it last. */
export interface NoticeEnrollment {
  status: EnrollmentStatus;
  /** ENROLLED once in its year: being validated again after an edit of its profiles, it is still enrolled. */
  completed?: boolean;
  /** Enroll has started it: INVITED then means its payout rules are met, Submit next. */
  started?: boolean;
}

/**
 * A notice's message, by where the enrollment is now (another admin may have gone on with it before this recipient
 * selects the notice): enrolled (also while validated again after a profile edit), submitted and being validated,
 * needing action or started and ready to submit (Get Started goes on with it: Enroll answers the started enrollment,
 * whose next action is Continue or Submit), else invited to enroll.
 */
export function noticeMessage(location: string, programYear: string, enrollment?: NoticeEnrollment | null): string {
  switch (enrollment?.status) {
    case 'ENROLLED':
      return `${location} was invited to enroll in ${programYear} and is now enrolled.`;
    case 'VALIDATING':
      return enrollment.completed
        ? `${location} was invited to enroll in ${programYear} and is now enrolled.`
        : `${location} was invited to enroll in ${programYear}. Its enrollment is submitted and being validated.`;
    case 'ACTION_REQUIRED':
      return `${location} was invited to enroll in ${programYear}. Its enrollment needs action: select Get Started to see what is missing.`;
    case 'INVITED':
      if (enrollment.started) return `${location} was invited to enroll in ${programYear}. Its enrollment is started: select Get Started to submit it.`;
      return `${location} is invited to enroll in ${programYear}. Select Get Started to enroll.`;
    default:
      return `${location} is invited to enroll in ${programYear}. Select Get Started to enroll.`;
  }
}
