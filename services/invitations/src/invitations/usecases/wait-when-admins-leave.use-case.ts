import { AccessViewUpdater } from '@lib/access';
import { ALL_LOCATIONS, RoleRevoked, UserEvent } from '@lib/contracts';
import { Clock } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InvitationRepository } from '../invitation.repository';
import { ViewsRepository } from '../views/views.repository';
import { ReconcileInvitation } from './reconcile-invitation.use-case';

/**
 * A user event that takes the Incentives admin role away from someone (RoleRevoked of INCENTIVES_ADMIN, or a
 * deactivated user holding it): the ISSUED invitations of the locations they held it on are reconciled, and one that
 * has no active Incentives admin left waits again (AWAITING_ADMIN) and asks the company admins to assign one
 * (ReconcileInvitation's rules: only while the invitation is open, its program `OPEN` in that fiscal year and the year
 * not over). A later assignment delivers it as for any waiting invitation (DeliverToLateAdmins).
 *
 * The locations come from the event, not from the role view (which may already hold this snapshot, or a newer one):
 * RoleRevoked names the locations it revoked (`*`: all of the partner's), and a deactivated user's snapshot keeps
 * their roles. The snapshot goes into the role view first (idempotent, highest revision wins; the AccessModule's
 * handler has applied it already when it runs this, but not when it runs alone), so the reconcile reads the admins as
 * they are after it. A
 * duplicate of the event finds the invitation waiting already and changes nothing.
 *
 * An invitation not ISSUED yet when it looks (a decision or an assignment writing it to the admins it read before
 * this event) is not missed: ReconcileInvitation reads the admins again after an issue or a delivery
 * (followAdmins). This writes the role view then reads the invitations, that writes the invitation then reads the
 * role view, so one of the two sees the other.
 */
@Injectable()
export class WaitWhenAdminsLeave {
  constructor(
    private readonly accessView: AccessViewUpdater,
    private readonly invitations: InvitationRepository,
    private readonly reconcile: ReconcileInvitation,
    private readonly views: ViewsRepository,
    private readonly clock: Clock,
  ) {}

  async execute(type: string, data: unknown, heartbeat: () => Promise<void> = async () => undefined): Promise<void> {
    const locations = lostLocations(type, data);
    if (!locations.length) return;
    const { partnerId } = (data as UserEvent).user;
    await this.accessView.apply(type, data);
    const issued = await this.invitations.issuedIn(partnerId, locations.includes(ALL_LOCATIONS) ? null : locations, await this.views.currentFiscalYears());
    // Only those that would wait again (an ISSUED invitation of a closed program or a year past stays as it is).
    await this.reconcile.executeAll(await this.views.enrollableAt(issued, this.clock.now()), heartbeat);
  }
}

/** The locations on which the event may have taken the Incentives admin role away from its user (`*`: all). */
function lostLocations(type: string, data: unknown): string[] {
  if (type === 'RoleRevoked') {
    const change = data as RoleRevoked;
    return change.role === 'INCENTIVES_ADMIN' ? change.locationIds : [];
  }
  if (type !== 'UserDeactivated' && type !== 'UserUpdated') return [];
  const { user } = data as UserEvent;
  if (user.active) return [];
  return user.roles.filter((grant) => grant.role === 'INCENTIVES_ADMIN').flatMap((grant) => grant.locationIds);
}
