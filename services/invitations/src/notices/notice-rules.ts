import { Actor, holdsRole } from '@lib/access';
import { InvitationState } from '../invitations/invitation.schema';

/** Invitations whose notices can be shown: a revoked one loses them, a waiting one has no recipient yet. */
export const NOTICE_STATES: InvitationState[] = ['ISSUED', 'ENROLLED'];

export const NOTICE_TITLE = 'Partner Incentive Enrollment Invitation';

export type NoticeStatus = 'pending' | 'selected' | 'none';

/**
 * The user's notice on an invitation: `pending` (listed), `selected` (never listed again, selecting again answers
 * the same link) or `none`. A recipient who no longer holds the Incentives admin role on the location has none.
 */
export function noticeStatus(
  invitation: {
    partnerId: string;
    locationId: string;
    state: InvitationState;
    recipients: Array<{ userId: string; selectedAt?: Date | null }>;
  },
  actor: Pick<Actor, 'userId' | 'partnerId' | 'roles'>,
): NoticeStatus {
  if (invitation.partnerId !== actor.partnerId || !NOTICE_STATES.includes(invitation.state)) return 'none';
  if (!holdsRole(actor, 'INCENTIVES_ADMIN', invitation.locationId)) return 'none';
  const recipient = invitation.recipients.find((r) => r.userId === actor.userId);
  if (!recipient) return 'none';
  return recipient.selectedAt ? 'selected' : 'pending';
}
