import { AccessPolicy } from '@lib/access';
import { Clock, Principal } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InvitationRecord, InvitationRepository } from '../../invitations/invitation.repository';
import { ViewsRepository } from '../../invitations/views/views.repository';
import { NoticeDto } from '../dto/notice.dto';
import { NOTICE_STATES, NOTICE_TITLE, noticeStatus } from '../notice-rules';

/** A notice; the location is named as in the emails ("Contoso Inc (1234567)") once its name is known. */
export function toNotice(invitation: InvitationRecord, userId: string, legalName?: string): NoticeDto {
  const recipient = invitation.recipients.find((r) => r.userId === userId)!;
  const program = invitation.programName ?? invitation.programId;
  const location = legalName ? `${legalName} (${invitation.locationId})` : `Location ${invitation.locationId}`;
  return {
    invitationId: invitation._id,
    title: NOTICE_TITLE,
    message: `${location} is invited to enroll in ${program} (${invitation.fiscalYear}). Select Get Started to enroll.`,
    programId: invitation.programId,
    ...(invitation.programName && { programName: invitation.programName }),
    locationId: invitation.locationId,
    fiscalYear: invitation.fiscalYear,
    deliveredAt: new Date(recipient.deliveredAt).toISOString(),
  };
}

/**
 * The signed-in user's home-page notices they have not selected yet, in their own partner only, of open programs
 * and their current fiscal year while it is not over (the Clock's now).
 */
@Injectable()
export class ListNotices {
  constructor(
    private readonly policy: AccessPolicy,
    private readonly invitations: InvitationRepository,
    private readonly views: ViewsRepository,
    private readonly clock: Clock,
  ) {}

  async execute(principal: Principal): Promise<NoticeDto[]> {
    const actor = await this.policy.actor(principal);
    const candidates = await this.invitations.withPendingNotice(actor.partnerId, actor.userId, NOTICE_STATES);
    if (!candidates.length) return [];
    const programs = await this.views.programsById([...new Set(candidates.map((invitation) => invitation.programId))]);
    const now = this.clock.now();
    const pending = candidates.filter(
      (invitation) => noticeStatus(invitation, programs.get(invitation.programId), actor, now) === 'pending',
    );
    // One batched read for the locations' names (the loader groups these lookups).
    const locations = await Promise.all(pending.map((invitation) => this.policy.locationById(invitation.locationId)));
    return pending.map((invitation, i) => toNotice(invitation, actor.userId, locations[i]?.legalName));
  }
}
