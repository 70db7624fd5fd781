import { ALL_LOCATIONS, COMPANY_ROLES, grantKeys, grantsRole, INCENTIVE_ROLES, Role, Roles } from '@lib/contracts';
import { Keyset, Page, Principal, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { BatchLoader, modelLoader, PermanentError } from '@lib/messaging';
import { AccessGrant, AccessLocation, AccessUser, grantIndexKey } from './access.schemas';

const LOCATION_ORDER = new Keyset<AccessLocation>('locations', ['_id']);

/** A signed-in user with the roles this service knows for them. */
export interface Actor {
  userId: string;
  partnerId: string;
  email: string;
  displayName: string;
  roles: Array<{ role: Role; locationIds: string[] }>;
}

/** The 403 of a caller holding no role in the partner. */
export const NO_ROLE = 'You hold no incentives role and no company admin role in this partner: ask your Global or Account admin for one.';

/** A company role, or an incentives role on at least one location. */
export function holdsAnyRole(actor: Pick<Actor, 'roles'>): boolean {
  return actor.roles.some((r) => COMPANY_ROLES.includes(r.role) || (INCENTIVE_ROLES.includes(r.role) && r.locationIds.length > 0));
}

/**
 * The grants of roles this version knows. A later identity may grant others (the events carry them, the view stores
 * them as they came, so an upgraded service knows them with no replay); here they give nothing.
 */
export function knownGrants<T extends { role: string }>(roles: readonly T[]): T[] {
  return roles.filter((grant) => (Roles as readonly string[]).includes(grant.role));
}

export function isCompanyAdmin(actor: Pick<Actor, 'roles'>): boolean {
  return actor.roles.some((r) => COMPANY_ROLES.includes(r.role));
}

export function holdsRole(actor: Pick<Actor, 'roles'>, role: Role, locationId: string): boolean {
  return grantsRole(actor.roles, role, locationId);
}

/** Incentive roles (admin or user) on the location, or a company-wide admin of the partner. */
export function canView(actor: Actor, locationId: string): boolean {
  return isCompanyAdmin(actor) || holdsRole(actor, 'INCENTIVES_ADMIN', locationId) || holdsRole(actor, 'INCENTIVES_USER', locationId);
}

/**
 * Answers "who may do what" from the role view. Tenancy first: another partner's resource is 404, never 403,
 * so its existence does not leak.
 */
@Injectable()
export class AccessPolicy {
  /** Concurrent lookups (consumers handle many messages at once) share one query. */
  private readonly grantLoader: BatchLoader<string, AccessGrant>;
  private readonly userLoader: BatchLoader<string, AccessUser>;
  private readonly locationLoader: BatchLoader<string, AccessLocation>;

  constructor(
    @InjectModel(AccessUser.name) private readonly users: Model<AccessUser>,
    @InjectModel(AccessLocation.name) private readonly locations: Model<AccessLocation>,
    @InjectModel(AccessGrant.name) private readonly grants: Model<AccessGrant>,
  ) {
    this.grantLoader = modelLoader(this.grants);
    this.userLoader = modelLoader(this.users);
    this.locationLoader = modelLoader(this.locations);
  }

  /** Active users of the partner holding one of these grants (`ROLE:locationId` / `ROLE:*`), by `_id`. */
  private async holdersOf(partnerId: string, grants: Array<{ role: Role; locationId: string }>): Promise<AccessUser[]> {
    const entries = await Promise.all(grants.map((g) => this.grantLoader.load(grantIndexKey(partnerId, g.role, g.locationId))));
    const ids = [...new Set(entries.flatMap((entry) => entry?.userIds ?? []))].sort();
    const wanted = grants.map((g) => `${g.role}:${g.locationId}`);
    const users = await Promise.all(ids.map((id) => this.userLoader.load(id)));
    return users.filter(
      (user): user is AccessUser =>
        // `grants` from its roles on a row stored before the view kept them (no event of the user since).
        !!user && user.partnerId === partnerId && user.active && (user.grants ?? grantKeys(user.roles)).some((grant) => wanted.includes(grant)),
    );
  }

  /** The caller as this service knows them; 403 if identity has not told us about them or deactivated them. */
  async actor(principal: Principal): Promise<Actor> {
    const user = await this.userById(principal.userId);
    if (!user || user.partnerId !== principal.partnerId) {
      throw Problems.forbidden('Your account has no roles in this partner yet. Ask your Global admin to add you.');
    }
    if (!user.active) throw Problems.forbidden('Your account is deactivated.');
    return { userId: user._id, partnerId: user.partnerId, email: user.email, displayName: user.displayName, roles: knownGrants(user.roles) };
  }

  /**
   * The caller, who holds a role in the partner: a company role, or an incentives role on some location (SPEC 1, Roles
   * 2: Incentives users read programs, enrollments and profile status; everyone else gets 403). For reads that are not
   * about one location (a location's are checked by requireView).
   */
  async reader(principal: Principal): Promise<Actor> {
    const actor = await this.actor(principal);
    if (!holdsAnyRole(actor)) throw Problems.forbidden(NO_ROLE);
    return actor;
  }

  /** The user as this service knows them (consumers: no caller to check); concurrent lookups share one query. */
  userById(userId: string): Promise<AccessUser | undefined> {
    return this.userLoader.load(userId);
  }

  /** The location as this service knows it (consumers: no caller to check); concurrent lookups share one query. */
  locationById(locationId: string): Promise<AccessLocation | undefined> {
    return this.locationLoader.load(locationId);
  }

  /** The location when it is the partner's (a request on its behalf); another partner's reads as unknown. */
  async locationOf(partnerId: string, locationId: string): Promise<AccessLocation | undefined> {
    const location = await this.locationLoader.load(locationId);
    return location?.partnerId === partnerId ? location : undefined;
  }

  /**
   * For an event from outside the platform that names a location and its partner (an eligibility decision): refused
   * with a PermanentError (dead-lettered with the reason, nothing stored) when the location is known to belong to
   * another partner. A location not known yet passes: identity's events may simply not have arrived. Answers whether
   * the location is known as that partner's (false: not known yet).
   */
  async assertLocationOf(partnerId: string, locationId: string, what: string): Promise<boolean> {
    const location = await this.locationById(locationId);
    if (location && location.partnerId !== partnerId) {
      throw new PermanentError(`${what} names location ${locationId} as partner ${partnerId}'s, but it belongs to another partner.`);
    }
    return location !== undefined;
  }

  /** 404 unless the location belongs to the caller's partner. */
  async location(actor: Actor, locationId: string): Promise<AccessLocation> {
    const location = await this.locationById(locationId);
    if (!location || location.partnerId !== actor.partnerId) throw Problems.notFound(`Location ${locationId}`);
    return location;
  }

  /** 404 for a location of another partner; 403 naming the role needed otherwise. */
  async requireRole(actor: Actor, locationId: string, role: Role, action: string): Promise<AccessLocation> {
    const location = await this.location(actor, locationId);
    if (!holdsRole(actor, role, locationId)) {
      throw Problems.forbidden(`Only an Incentives admin of location ${locationId} can ${action}.`);
    }
    return location;
  }

  /** 404 for another partner's location; 403 when the caller holds no role there. */
  async requireView(actor: Actor, locationId: string): Promise<AccessLocation> {
    const location = await this.location(actor, locationId);
    if (!canView(actor, locationId)) {
      throw Problems.forbidden(`You hold no incentives role on location ${locationId}.`);
    }
    return location;
  }

  /**
   * For a resource found already under the caller's partner (an enrollment, an invitation, read by its id): 403 when the
   * caller holds no role that sees its location. Its location may not be in this service's view yet (the resource was
   * recorded from an event that came before identity's LocationAdded): the resource's own partner vouches for it, as
   * the lists (filtered by partner) show it. A location the view knows as another partner's is 404 all the same.
   */
  async requireViewOfOwn(actor: Actor, locationId: string): Promise<void> {
    const location = await this.locationById(locationId);
    if (location && location.partnerId !== actor.partnerId) throw Problems.notFound(`Location ${locationId}`);
    if (!canView(actor, locationId)) throw Problems.forbidden(`You hold no incentives role on location ${locationId}.`);
  }

  /**
   * The ids of the locations the caller may see, for a list's filter; null when they may see every location of their
   * partner (company admins, a role on `*`): the list then filters by partner alone, rather than by an `$in` of all its
   * locations (thousands, read for every page).
   */
  async visibleLocationIds(actor: Actor): Promise<string[] | null> {
    if (seesEveryLocation(actor)) return null;
    // The ids the caller's roles name, not only those the view knows: every list filters by partner too, and a
    // resource recorded before its location reached the view (see requireViewOfOwn) is listed to them as to a company
    // admin.
    // The locations of the incentive roles, each of which sees its own (canView), as a set: checking each against every
    // grant's list was quadratic in a list of thousands (`*` narrowed by one location), on every list request.
    const viewing = actor.roles.filter((grant) => grant.role === 'INCENTIVES_ADMIN' || grant.role === 'INCENTIVES_USER');
    return [...new Set(viewing.flatMap((grant) => grant.locationIds))].sort();
  }

  /**
   * The same, a page at a time in `_id` order (`cursor`: the `nextCursor` of the page before; 400 when it is not one). Read
   * among the locations the actor's roles name, unless a role covers every location (company admins, `*`): a user with
   * a role on a few locations of a large partner does not page through all of them.
   */
  async visibleLocationsPage(actor: Actor, cursor: string | undefined, limit: number): Promise<Page<AccessLocation>> {
    const named = namedLocations(actor);
    return LOCATION_ORDER.readPage(
      cursor,
      limit,
      (position, count) =>
        this.locations.find({ partnerId: actor.partnerId, ...named, ...position }).sort(LOCATION_ORDER.sort).limit(count).lean<AccessLocation[]>(),
      (location) => canView(actor, location._id),
    );
  }

  /** Active users holding `role` on the location (directly or through `*`). */
  async holders(partnerId: string, locationId: string, role: Role): Promise<AccessUser[]> {
    return this.holdersOf(partnerId, [
      { role, locationId },
      { role, locationId: ALL_LOCATIONS },
    ]);
  }

  /** Active Global and Account admins of the partner. */
  async companyAdmins(partnerId: string): Promise<AccessUser[]> {
    return this.holdersOf(partnerId, COMPANY_ROLES.map((role) => ({ role, locationId: ALL_LOCATIONS })));
  }

  async user(userId: string): Promise<AccessUser | null> {
    return this.users.findById(userId).lean();
  }
}

/** Whether a role of the actor covers every location of their partner (company admins, a role on `*`). */
function seesEveryLocation(actor: Actor): boolean {
  return isCompanyAdmin(actor) || actor.roles.some((r) => r.locationIds.includes(ALL_LOCATIONS));
}

/** The filter on the locations the actor's roles name; none when they see every location. */
function namedLocations(actor: Actor): { _id?: { $in: string[] } } {
  return seesEveryLocation(actor) ? {} : { _id: { $in: [...new Set(actor.roles.flatMap((r) => r.locationIds))] } };
}
