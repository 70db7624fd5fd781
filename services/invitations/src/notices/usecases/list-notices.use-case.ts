import { AccessPolicy } from '@lib/access';
import { fiscalYearOver } from '@lib/contracts';
import { Clock, DEFAULT_PAGE_SIZE, Page, PageQuery, Principal } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InvitationRecord, InvitationRepository, NOTICE_ORDER } from '../../invitations/invitation.repository';
import { ViewsRepository } from '../../invitations/views/views.repository';
import { NoticeDto } from '../dto/notice.dto';
import { NOTICE_STATES, NOTICE_TITLE, NoticeEnrollment, noticeMessage, NoticeProgram, noticeStatus } from '../notice-rules';

/**
 * A notice; the location is named as in the emails ("Contoso Inc (1234567)") once its name is known. Its message says
 * where the location's enrollment of that year is now (noticeMessage), as another admin may have gone on with it.
 */
export function toNotice(invitation: InvitationRecord, userId: string, legalName?: string, enrollment?: NoticeEnrollment | null): NoticeDto {
  const recipient = invitation.recipients.find((r) => r.userId === userId)!;
  const program = invitation.programName ?? invitation.programId;
  const location = legalName ? `${legalName} (${invitation.locationId})` : `Location ${invitation.locationId}`;
  return {
    invitationId: invitation._id,
    title: NOTICE_TITLE,
    message: noticeMessage(location, `${program} (${invitation.fiscalYear})`, enrollment),
    programId: invitation.programId,
    ...(invitation.programName && { programName: invitation.programName }),
    locationId: invitation.locationId,
    fiscalYear: invitation.fiscalYear,
    deliveredAt: new Date(recipient.deliveredAt).toISOString(),
  };
}

/**
 * The signed-in user's home-page notices they have not selected yet, in their own partner only, of open programs
 * and their current fiscal year while it is not over (the Clock's now): a page of them, the newest first.
 */
@Injectable()
export class ListNotices {
  constructor(
    private readonly policy: AccessPolicy,
    private readonly invitations: InvitationRepository,
    private readonly views: ViewsRepository,
    private readonly clock: Clock,
  ) {}

  /** A page in NOTICE_ORDER (`limit`, `cursor`: PageQuery). */
  async execute(principal: Principal, { limit = DEFAULT_PAGE_SIZE, cursor }: PageQuery): Promise<Page<NoticeDto>> {
    const actor = await this.policy.reader(principal);
    const now = this.clock.now();
    // Whether a notice is listed depends on its program now: the programs of each read's rows are read with them, and
    // readPage keeps the pending notices (reading on past the others, so a page is short only when it is the last).
    const programs = new Map<string, NoticeProgram>();
    // What the enrollment's status says now (the view's, under the invitation's id; batched by its loader), not the
    // invitation's state: an ISSUED one's enrollment may be started or submitted by another admin (its message), or have
    // expired (no notice), and an invitation stays ENROLLED once its enrollment needs action again or ends.
    const enrollments = new Map<string, NoticeEnrollment | null>();
    // Read only the notices of programs taking enrollments, each in its current year not over: the others (a program
    // closed, a year past) stay pending for good and are never listed, and reading past them on every listing made one
    // request's reads grow with the user's history. The programs' state is checked again per row (noticeStatus).
    const programYears = (await this.views.programsTakingEnrollments())
      .filter((program) => !fiscalYearOver(program.fiscalYear, now))
      .map((program) => ({ programId: program._id, fiscalYear: program.fiscalYear }));
    const page = await NOTICE_ORDER.readPage(
      cursor,
      limit,
      async (after, count) => {
        const rows = await this.invitations.withPendingNotice(actor.partnerId, actor.userId, NOTICE_STATES, { after, count }, programYears);
        const unread = [...new Set(rows.map((invitation) => invitation.programId))].filter((id) => !programs.has(id));
        if (unread.length) for (const [id, program] of await this.views.programsById(unread)) programs.set(id, program);
        // The enrollments only of the rows listed but for them (batched by the view's loader).
        const listed = rows.filter((invitation) => noticeStatus(invitation, programs.get(invitation.programId), actor, now) === 'pending');
        const statuses = await Promise.all(listed.map((invitation) => this.views.enrollmentStatus(invitation._id)));
        listed.forEach((invitation, i) => enrollments.set(invitation._id, statuses[i]));
        return rows;
      },
      (invitation) => noticeStatus(invitation, programs.get(invitation.programId), actor, now, enrollments.get(invitation._id)) === 'pending',
    );
    // One batched read for the locations' names (the loader groups these lookups); one known as another partner's (the
    // decision that invited named the wrong partner) shows no name.
    const locations = await Promise.all(page.items.map((invitation) => this.policy.locationOf(actor.partnerId, invitation.locationId)));
    return {
      ...page,
      items: page.items.map((invitation, i) => toNotice(invitation, actor.userId, locations[i]?.legalName, enrollments.get(invitation._id))),
    };
  }
}
