import { AccessPolicy, AccessViewUpdater } from '@lib/access';
import { ALL_LOCATIONS, COMPANY_ROLES, isUserEvent, LocationAdded, PartnerRegistered, UserEvent } from '@lib/contracts';
import { Clock } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InvitationRepository } from '../invitation.repository';
import { ViewsRepository } from '../views/views.repository';
import { ReconcileInvitation } from './reconcile-invitation.use-case';

/**
 * A user event that may make someone an Incentives admin of a location (RoleAssigned, or a snapshot carrying the
 * role): every open invitation of those locations for its program's current fiscal year that did not reach them yet
 * is delivered to them (and an AWAITING_ADMIN one stops waiting), unless that year is over (ReconcileInvitation's
 * rules, at the Clock's now).
 *
 * The AccessModule's handler applies the event to the role view before it runs this (IdentityHandler). This use case
 * applies the user snapshot again itself (idempotent: highest revision wins), so that it holds when run on its own,
 * and decides from the user as stored after that: this event's snapshot or a newer one.
 */
@Injectable()
export class DeliverToLateAdmins {
  constructor(
    private readonly accessView: AccessViewUpdater,
    private readonly policy: AccessPolicy,
    private readonly views: ViewsRepository,
    private readonly reconcile: ReconcileInvitation,
    private readonly invitations: InvitationRepository,
    private readonly clock: Clock,
  ) {}

  async execute(type: string, data: unknown, heartbeat: () => Promise<void> = async () => undefined): Promise<void> {
    if (type === 'PartnerRegistered' || type === 'LocationAdded') return this.locationsKnown(type, data, heartbeat);
    if (!isUserEvent(type)) return;
    const snapshot = (data as UserEvent).user;
    if (snapshot.active && snapshot.roles.some((grant) => (COMPANY_ROLES as readonly string[]).includes(grant.role))) await this.companyAdminKnown(type, data, heartbeat);
    // A snapshot that makes nobody an Incentives admin delivers nothing (a newer one, if any, is handled when its
    // own event is): leave the role view to the AccessModule and keep a replay of the topic cheap.
    if (!snapshot.active || !snapshot.roles.some((grant) => grant.role === 'INCENTIVES_ADMIN')) return;
    await this.accessView.apply(type, data);
    const user = await this.policy.user(snapshot.userId);
    if (!user?.active) return;
    const locations = user.roles.filter((grant) => grant.role === 'INCENTIVES_ADMIN').flatMap((grant) => grant.locationIds);
    if (!locations.length) return;
    const years = await this.views.currentFiscalYears();
    const open = await this.invitations.deliverableTo(user._id, user.partnerId, locations.includes(ALL_LOCATIONS) ? null : locations, years);
    await this.reconcile.executeAll(await this.views.enrollableAt(open, this.clock.now()), heartbeat);
  }

  /**
   * A Global or Account admin of the partner (a snapshot carrying the role): the waiting invitations that did not ask
   * them to assign an Incentives admin are reconciled: those whose request could not go out (nobody to ask then,
   * `adminRequestPending`) ask them now, those whose request went out to others ask them too (`askedAdmins`). The
   * user goes into the role view first, as above.
   */
  private async companyAdminKnown(type: string, data: unknown, heartbeat: () => Promise<void>): Promise<void> {
    const { partnerId, userId } = (data as UserEvent).user;
    // The user into the view first, then the waiting invitations: one written meanwhile reads the view again after its
    // write (ReconcileInvitation.askIfAdminsAppeared), so one of the two sees the other.
    await this.accessView.apply(type, data);
    const waiting = await this.invitations.notAsking(partnerId, userId, await this.views.currentFiscalYears());
    await this.reconcile.executeAll(await this.views.enrollableAt(waiting, this.clock.now()), heartbeat);
  }

  /**
   * Locations now known (PartnerRegistered, LocationAdded): the decisions that named them before identity's events
   * arrived waited for this (ReconcileInvitation invites only for a location known as the decision's partner's). The
   * location goes into the view first (again, as above), then the partner's own
   * decisions set aside for a later one naming another partner become the decisions (confirmOwner), then those
   * decisions of its partner are reconciled.
   */
  private async locationsKnown(type: string, data: unknown, heartbeat: () => Promise<void>): Promise<void> {
    await this.accessView.apply(type, data);
    const { partnerId } = data as LocationAdded;
    const locationIds = type === 'PartnerRegistered' ? (data as PartnerRegistered).locations.map((l) => l.locationId) : [(data as LocationAdded).locationId];
    // The partner's own decisions set aside for a later one naming another partner (while unknown) count now.
    await this.views.confirmOwner(partnerId, locationIds);
    await this.reconcile.executeAll(await this.views.enrollableDecisionIds(partnerId, locationIds, this.clock.now()), heartbeat);
  }
}
