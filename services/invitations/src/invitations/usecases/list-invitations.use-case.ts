import { AccessPolicy, Actor, holdsRole, isCompanyAdmin } from '@lib/access';
import { CONFIG, DEFAULT_PAGE_SIZE, Page, Principal, Problems } from '@lib/platform';
import { Inject, Injectable } from '@nestjs/common';
import type { InvitationsConfig } from '../../config';
import { getStartedUrl } from '../invitation-ids';
import { InvitationDto, ListInvitationsQuery } from '../dto/invitation.dto';
import { InvitationRecord, InvitationRepository, LIST_ORDER } from '../invitation.repository';

const iso = (date?: Date | null) => (date ? new Date(date).toISOString() : undefined);

/**
 * Whether the reader sees who an invitation went to (names, email addresses, notice state): its company admins and the
 * location's Incentives admins, as identity lists a location's Incentives admins to them only. An Incentives user reads
 * the invitation without its recipients.
 */
export function seesRecipients(actor: Actor, locationId: string): boolean {
  return isCompanyAdmin(actor) || holdsRole(actor, 'INCENTIVES_ADMIN', locationId);
}

/** `portalBaseUrl`: the Get Started link is made as the portal's address is now (it may have changed since the issue). */
export function toInvitationDto(invitation: InvitationRecord, { recipients, portalBaseUrl }: { recipients: boolean; portalBaseUrl: string }): InvitationDto {
  return {
    invitationId: invitation._id,
    programId: invitation.programId,
    ...(invitation.programName && { programName: invitation.programName }),
    partnerId: invitation.partnerId,
    locationId: invitation.locationId,
    fiscalYear: invitation.fiscalYear,
    state: invitation.state,
    recipients: (recipients ? invitation.recipients : []).map((r) => ({
      userId: r.userId,
      email: r.email,
      displayName: r.displayName,
      deliveredAt: iso(r.deliveredAt)!,
      noticeSelected: Boolean(r.selectedAt),
      ...(r.selectedAt && { selectedAt: iso(r.selectedAt) }),
    })),
    getStartedUrl: getStartedUrl(portalBaseUrl, invitation),
    reasons: invitation.reasons ?? [],
    ...(invitation.issuedAt && { issuedAt: iso(invitation.issuedAt) }),
    ...(invitation.revokedAt && { revokedAt: iso(invitation.revokedAt) }),
    version: invitation.version,
  };
}

/**
 * Invitations of the locations the user may see (Global and Account admins: every location of the partner),
 * so company admins can follow which locations are invited, waiting for an admin, or revoked.
 */
@Injectable()
export class ListInvitations {
  constructor(
    private readonly policy: AccessPolicy,
    private readonly invitations: InvitationRepository,
    @Inject(CONFIG) private readonly config: Pick<InvitationsConfig, 'PORTAL_BASE_URL'>,
  ) {}

  /** A page, in location, program and fiscal year order (`limit`, `cursor`: PageQuery). */
  async list(principal: Principal, query: ListInvitationsQuery): Promise<Page<InvitationDto>> {
    const after = LIST_ORDER.after(query.cursor); // a bad cursor is a 400 whoever asks
    const actor = await this.policy.reader(principal);
    let locationIds: string[] | null; // null: every location of the partner
    if (query.locationId !== undefined) {
      await this.policy.requireView(actor, query.locationId);
      locationIds = [query.locationId];
    } else {
      locationIds = await this.policy.visibleLocationIds(actor);
    }
    if (locationIds?.length === 0) return { items: [] };
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const rows = await this.invitations.listForPartner(
      actor.partnerId,
      { locationIds, ...(query.state && { states: [query.state] }) },
      { after, count: limit + 1 },
    );
    const page = LIST_ORDER.page(rows, limit);
    return { ...page, items: page.items.map((invitation) => toInvitationDto(invitation, this.shown(actor, invitation))) };
  }

  async get(principal: Principal, invitationId: string): Promise<InvitationDto> {
    const actor = await this.policy.actor(principal);
    const invitation = await this.invitations.findForPartner(actor.partnerId, invitationId);
    if (!invitation) throw Problems.notFound(`Invitation ${invitationId}`);
    await this.policy.requireViewOfOwn(actor, invitation.locationId);
    return toInvitationDto(invitation, this.shown(actor, invitation));
  }

  private shown(actor: Actor, invitation: InvitationRecord) {
    return { recipients: seesRecipients(actor, invitation.locationId), portalBaseUrl: this.config.PORTAL_BASE_URL };
  }
}
