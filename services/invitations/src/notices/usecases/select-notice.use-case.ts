import { AccessPolicy, Actor } from '@lib/access';
import { Topics } from '@lib/contracts';
import { EventOutbox } from '@lib/messaging';
import { Clock, CONFIG, Principal, Problems } from '@lib/platform';
import { Inject, Injectable } from '@nestjs/common';
import type { InvitationsConfig } from '../../config';
import { getStartedUrl } from '../../invitations/invitation-ids';
import { InvitationEventIds, noticeSelected } from '../../invitations/invitation-events';
import { InvitationLock } from '../../invitations/invitation-lock';
import { InvitationRecord, InvitationRepository } from '../../invitations/invitation.repository';
import { ViewsRepository } from '../../invitations/views/views.repository';
import { SelectedNoticeDto } from '../dto/notice.dto';
import { noticeStatus } from '../notice-rules';

const MAX_ATTEMPTS = 8;

/**
 * The user selects their notice: the answer carries the Get Started link, the notice is never listed to them
 * again (other recipients keep theirs) and NoticeSelected is published once. The invitation stays valid.
 * Selecting again answers the same link without a new event. Anything that is not the caller's notice is 404, as is
 * a notice no longer shown (program not OPEN, the invitation's fiscal year no longer the program's current one, or
 * over).
 */
@Injectable()
export class SelectNotice {
  constructor(
    private readonly policy: AccessPolicy,
    private readonly invitations: InvitationRepository,
    private readonly views: ViewsRepository,
    private readonly outbox: EventOutbox,
    private readonly lock: InvitationLock,
    private readonly clock: Clock,
    @Inject(CONFIG) private readonly config: Pick<InvitationsConfig, 'PORTAL_BASE_URL'>,
  ) {}

  async execute(principal: Principal, invitationId: string): Promise<SelectedNoticeDto> {
    const actor = await this.policy.actor(principal);
    return this.lock.run(invitationId, () => this.select(actor, invitationId));
  }

  private async select(actor: Actor, invitationId: string): Promise<SelectedNoticeDto> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const invitation = await this.invitations.findForPartner(actor.partnerId, invitationId);
      const [program, enrollment] = invitation ? await Promise.all([this.views.program(invitation.programId), this.views.enrollmentStatus(invitation._id)]) : [];
      const now = this.clock.now();
      const status = invitation ? noticeStatus(invitation, program, actor, now, enrollment) : 'none';
      if (!invitation || status === 'none') throw Problems.notFound(`Notice ${invitationId}`);
      if (status === 'selected') return answer(invitation, actor.userId, this.config.PORTAL_BASE_URL);

      const recipients = invitation.recipients.map((r) => (r.userId === actor.userId ? { ...r, selectedAt: now } : r));
      const event = this.outbox.event(Topics.invitations, {
        type: 'NoticeSelected',
        data: noticeSelected(invitation, actor.userId),
        eventId: InvitationEventIds.noticeSelected(invitation, actor.userId),
      });
      const written = await this.invitations.update(
        invitation._id,
        invitation.version,
        { set: { recipients, pendingNotices: invitation.pendingNotices.filter((id) => id !== actor.userId) } },
        [event],
      );
      if (written) {
        this.outbox.committed();
        return answer({ ...invitation, recipients }, actor.userId, this.config.PORTAL_BASE_URL);
      }
    }
    throw Problems.busy('The invitation is changing right now; try again.');
  }
}

/** `portalBaseUrl`: the link is made as the portal's address is now (it may have changed since the invitation was issued). */
function answer(invitation: InvitationRecord, userId: string, portalBaseUrl: string): SelectedNoticeDto {
  const selectedAt = invitation.recipients.find((r) => r.userId === userId)!.selectedAt!;
  return {
    invitationId: invitation._id,
    programId: invitation.programId,
    ...(invitation.programName && { programName: invitation.programName }),
    locationId: invitation.locationId,
    fiscalYear: invitation.fiscalYear,
    getStartedUrl: getStartedUrl(portalBaseUrl, invitation),
    selectedAt: new Date(selectedAt).toISOString(),
  };
}
