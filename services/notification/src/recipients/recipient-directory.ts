import { AccessPolicy, AccessUser } from '@lib/access';
import { grantsRole, Recipient } from '@lib/contracts';
import { IDS_PER_LOOKUP } from '@lib/messaging';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { Audience } from '../messages/message.schema';

/** Someone a message is addressed to, as the recipient view knows them when the event is consumed. */
export interface Addressee {
  userId: string;
  partnerId: string;
  email: string;
  displayName?: string;
  /** Their roles as the view knows them; absent for a user the view does not know yet (named by the event). */
  roles?: AccessUser['roles'];
  /**
   * False for a user the event names whom the view knows as deactivated: reactivated before the event, with the view
   * behind it, or deactivated since. Told nothing unless the view, caught up to the event, shows them active.
   */
  active?: false;
}

/**
 * Who receives what, from this service's view of users and roles (identity.events.v1 through @lib/access).
 * Deactivated users never receive anything.
 */
@Injectable()
export class RecipientDirectory {
  constructor(
    private readonly policy: AccessPolicy,
    @InjectModel(AccessUser.name) private readonly users: Model<AccessUser>,
  ) {}

  /**
   * Recipients named by the event (invitations decides who is invited). The view refines them: a user it knows as a
   * user of another partner is dropped; one it knows as deactivated is marked (`active: false`: CreateMessages
   * looks again once the view has caught up to the event, and drops them if still so); a known user gets their current
   * email and name. A user the view has not heard of yet (identity events may lag) is trusted as the event names them.
   */
  async listed(partnerId: string, recipients: Recipient[]): Promise<Addressee[]> {
    const ids = [...new Set(recipients.map((r) => r.userId))];
    const found = await Promise.all(ids.map((id) => this.policy.userById(id)));
    const known = new Map(found.flatMap((user) => (user ? [[user._id, user] as const] : [])));
    const result: Addressee[] = [];
    for (const id of ids) {
      const named = recipients.find((r) => r.userId === id)!;
      const user = known.get(id);
      if (!user) {
        result.push({ userId: id, partnerId, email: named.email, displayName: named.displayName });
      } else if (user.partnerId === partnerId) {
        result.push({ ...fromUser(user), ...(!user.active && { active: false as const }) });
      }
    }
    return result;
  }

  /** Active Incentives admins of the location (directly or through `*`). */
  async incentivesAdmins(partnerId: string, locationId: string): Promise<Addressee[]> {
    return (await this.policy.holders(partnerId, locationId, 'INCENTIVES_ADMIN')).map(fromUser);
  }

  /**
   * Active Incentives admins of any of these locations (directly or through `*`), each once, by `userId`: who looks
   * after a bank profile serving them. One holders lookup per location, up to IDS_PER_LOOKUP - 1 locations at a
   * time, so the grants of a profile serving many locations are read in `$in` lists of at most IDS_PER_LOOKUP keys
   * (with the shared `*` grant). Their users are read as every holders lookup reads them (@lib/access's loader).
   */
  async incentivesAdminsOfAny(partnerId: string, locationIds: string[]): Promise<Addressee[]> {
    const locations = [...new Set(locationIds)];
    const found = new Map<string, AccessUser>();
    for (let i = 0; i < locations.length; i += IDS_PER_LOOKUP - 1) {
      const chunk = locations.slice(i, i + IDS_PER_LOOKUP - 1);
      const holders = await Promise.all(chunk.map((locationId) => this.policy.holders(partnerId, locationId, 'INCENTIVES_ADMIN')));
      for (const user of holders.flat()) found.set(user._id, user);
    }
    return [...found.values()].sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0)).map(fromUser);
  }

  /** Active Incentives admins of any location of the partner (a bank profile serving every location, `*`). */
  async allIncentivesAdmins(partnerId: string): Promise<Addressee[]> {
    const users = await this.users.find({ partnerId, active: true, 'roles.role': 'INCENTIVES_ADMIN' }).sort({ _id: 1 }).lean();
    return users.filter((user) => user.roles.some((r) => r.role === 'INCENTIVES_ADMIN')).map(fromUser);
  }

  /** Active Global and Account admins of the partner. */
  async companyAdmins(partnerId: string): Promise<Addressee[]> {
    return (await this.policy.companyAdmins(partnerId)).map(fromUser);
  }

  /**
   * Where an email waiting for `userId` goes now, or why it goes nowhere. A backlog or a retry may outlast a change:
   *  - the view knows the user as another partner's (named by mistake while the view did not know them): nobody;
   *  - the view knows the user as deactivated: nobody (`cancel`);
   *  - the view knows they no longer hold the role the email was addressed for (`audience`: an Incentives admin of
   *    the location, a company admin): nobody; the email may name the location's enrollment or a profile's reasons.
   *    An email records its audience only when the view showed the recipient in it (CreateMessages), and the
   *    view only moves to newer snapshots: out of it now means a newer snapshot took the role away, never a view
   *    lagging behind the event that named them. Both say `left`: a message asking them to act goes to whoever holds
   *    the role now, if nobody it told still does (HandOverMessages);
   *  - else their current address and name, or the ones the email was created with when the view does not know the
   *    user (see `listed`).
   */
  async currentAddress(
    userId: string,
    created: { partnerId: string; email: string; displayName?: string; audience?: Audience },
    stillServed?: string[],
  ): Promise<{ to: { email: string; displayName?: string } } | { cancel: string; left?: true }> {
    const user = await this.policy.userById(userId);
    if (!user) return { to: { email: created.email, displayName: created.displayName } };
    // A user never moves between partners: one of another partner was named by mistake, unknown to the view then.
    if (user.partnerId !== created.partnerId) return { cancel: "recipient is not a user of the message's partner" };
    // `left`: what it asks of them may fall to whoever holds the role now (HandOverMessages).
    if (!user.active) return { cancel: 'recipient deactivated before delivery', left: true };
    if (created.audience && !inAudience(user, created.audience)) return { cancel: 'recipient no longer holds the role the message was addressed for', left: true };
    // A bank profile that stopped serving the recipient's locations (locationsStillServed): not for them any more; what
    // it asks goes to the admins of those it serves now, if none it told is one (`left`).
    if (created.audience && stillServed && !inAudience(user, { ...created.audience, locationIds: stillServed })) {
      return { cancel: "the profile no longer serves the recipient's locations", left: true };
    }
    return { to: { email: user.email, displayName: user.displayName } };
  }

  /**
   * "Contoso Ltd (L123)" when the view knows the location as the partner's, else its id: an event naming another
   * partner's location (a producer's mistake) tells the partner's people nothing of it (SPEC 1, Roles 4).
   */
  async locationLabel(locationId: string, partnerId: string): Promise<string> {
    const location = await this.policy.locationById(locationId);
    return location?.partnerId === partnerId ? `${location.legalName} (${locationId})` : locationId;
  }
}

function fromUser(user: AccessUser): Addressee {
  return { userId: user._id, partnerId: user.partnerId, email: user.email, displayName: user.displayName, roles: user.roles };
}

/** Whether the user holds one of the audience's roles on one of its locations (through `*` too), or anywhere without. */
export function inAudience(user: Pick<AccessUser, 'roles'>, audience: Audience): boolean {
  return audience.roles.some((role) =>
    audience.locationIds ? audience.locationIds.some((locationId) => grantsRole(user.roles, role, locationId)) : user.roles.some((grant) => grant.role === role),
  );
}
