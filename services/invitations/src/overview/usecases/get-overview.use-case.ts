import { AccessPolicy } from '@lib/access';
import { Clock, CONFIG, DEFAULT_PAGE_SIZE, Page, PageQuery, Principal } from '@lib/platform';
import { Inject, Injectable } from '@nestjs/common';
import { InvitationsConfig } from '../../config';
import { InvitationRepository } from '../../invitations/invitation.repository';
import { ViewsRepository } from '../../invitations/views/views.repository';
import { buildOverview, OverviewLocation } from '../overview-rules';

/**
 * The incentives overview of the signed-in user: the locations they hold a role on (every location of the
 * partner for Global and Account admins), read from this partner's data only, at the Clock's now (nothing of a fiscal
 * year that is over is offered).
 */
@Injectable()
export class GetOverview {
  constructor(
    private readonly policy: AccessPolicy,
    private readonly invitations: InvitationRepository,
    private readonly views: ViewsRepository,
    @Inject(CONFIG) private readonly config: InvitationsConfig,
    private readonly clock: Clock,
  ) {}

  /** A page of locations in PartnerID order (`limit` locations, `cursor`: PageQuery), each with its programs. */
  async execute(principal: Principal, { limit = DEFAULT_PAGE_SIZE, cursor }: PageQuery = {}): Promise<Page<OverviewLocation>> {
    const actor = await this.policy.reader(principal);
    const { items: locations, nextCursor } = await this.policy.visibleLocationsPage(actor, cursor, limit);
    if (!locations.length) return { items: [] };
    const locationIds = locations.map((location) => location._id);
    const [invitations, enrollments, decisions, openPrograms] = await Promise.all([
      this.invitations.listForPartner(actor.partnerId, { locationIds }),
      this.views.enrollmentStatusesFor(actor.partnerId, locationIds),
      this.views.decisionsFor(actor.partnerId, locationIds),
      this.views.openPrograms(),
    ]);
    const referenced = [...new Set([...invitations, ...enrollments].map((item) => item.programId))];
    const programs = await this.views.programsById(referenced);
    for (const program of openPrograms) programs.set(program._id, program);
    const items = buildOverview({
      actor,
      locations,
      invitations,
      programs,
      enrollments,
      decisions,
      portalBaseUrl: this.config.PORTAL_BASE_URL,
      now: this.clock.now(),
    });
    return { items, ...(nextCursor && { nextCursor }) };
  }
}
