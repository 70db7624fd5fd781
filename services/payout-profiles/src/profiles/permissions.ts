import { Actor, holdsAnyRole, holdsRole, isCompanyAdmin } from '@lib/access';
import { ALL_LOCATIONS } from '@lib/contracts';
import type { FieldProblem } from '@lib/platform';

/**
 * Bank profiles belong to the partner and serve named locations (`locationIds`, or `['*']`: every location of the
 * partner, present and future). A location's bank profiles are its Incentives admins' to create and edit (SPEC 1,
 * Roles 2), so the rules below read "the locations a profile serves" where they used to read "the partner".
 */

/** Creating any bank profile at all needs the Incentives admin role on some location (or '*'). */
export function canManageBankProfiles(actor: Pick<Actor, 'roles'>): boolean {
  return actor.roles.some((r) => r.role === 'INCENTIVES_ADMIN' && r.locationIds.length > 0);
}

/** The actor's incentive role grants (Incentives admin or user) that name at least one location. */
function incentiveGrants(actor: Pick<Actor, 'roles'>): Actor['roles'] {
  return actor.roles.filter((r) => (r.role === 'INCENTIVES_ADMIN' || r.role === 'INCENTIVES_USER') && r.locationIds.length > 0);
}

/**
 * Company admins and anyone with an incentives role may list bank profiles (masked; which ones: canReadBankProfile):
 * whoever holds a role in the partner (holdsAnyRole, as the other services' reads).
 */
export const canReadBankProfiles = holdsAnyRole;

/** The locations a stored profile serves: one stored before `locationIds` existed serves every location ('*'). */
export function servedLocations(profile: { locationIds?: string[] | null }): string[] {
  return profile.locationIds?.length ? profile.locationIds : [ALL_LOCATIONS];
}

/**
 * Of the locations a profile serves, those the actor is shown (SPEC 1: users see data only of the locations they hold
 * a role on): all of them to a company admin or an incentive role on every location; `['*']` as it is; otherwise those
 * of the actor's incentive roles. An admin who may edit the profile holds every location it serves, so sees them all.
 */
export function shownLocations(actor: Pick<Actor, 'roles'>, served: string[]): string[] {
  if (served.includes(ALL_LOCATIONS) || isCompanyAdmin(actor)) return served;
  const incentive = incentiveGrants(actor);
  if (incentive.some((r) => r.locationIds.includes(ALL_LOCATIONS))) return served;
  const held = new Set(incentive.flatMap((r) => r.locationIds));
  return served.filter((locationId) => held.has(locationId));
}

/** The profile as the actor is shown it: its `locationIds` those of its locations they hold a role on (shownLocations). */
export function shownTo<P extends { locationIds?: string[] | null }>(actor: Pick<Actor, 'roles'>, profile: P): P & { locationIds: string[] } {
  return { ...profile, locationIds: shownLocations(actor, servedLocations(profile)) };
}

/** Whether a profile serving `served` serves the location. */
export function serves(served: readonly string[], locationId: string): boolean {
  return served.includes(ALL_LOCATIONS) || served.includes(locationId);
}

/** The locations the actor is Incentives admin of: `['*']` for an admin of every location; what Create defaults to. */
export function adminLocations(actor: Pick<Actor, 'roles'>): string[] {
  const granted = actor.roles.filter((r) => r.role === 'INCENTIVES_ADMIN').flatMap((r) => r.locationIds);
  return granted.includes(ALL_LOCATIONS) ? [ALL_LOCATIONS] : [...new Set(granted)].sort();
}

/**
 * The served locations the actor is not Incentives admin of (none: they may edit the profile, make it serve them or
 * stop serving them). `'*'` is only an admin of every location's: an admin of each location there is today is not
 * enough, since '*' also serves the locations added later.
 */
export function bankProfileServeBlockers(actor: Pick<Actor, 'roles'>, served: readonly string[]): string[] {
  return served.filter((locationId) => !holdsRole(actor, 'INCENTIVES_ADMIN', locationId));
}

/**
 * Whether the actor may read a profile serving `served`: company admins read every profile of their partner; anyone
 * else those that serve at least one location they hold an incentives role on ('*' serves all of them).
 */
export function canReadBankProfile(actor: Pick<Actor, 'roles'>, served: readonly string[]): boolean {
  if (isCompanyAdmin(actor)) return true;
  const incentive = incentiveGrants(actor);
  if (!incentive.length) return false;
  if (served.includes(ALL_LOCATIONS)) return true;
  return served.some((locationId) => incentive.some((r) => r.locationIds.includes(ALL_LOCATIONS) || r.locationIds.includes(locationId)));
}

/**
 * canReadBankProfile as a query filter on the profiles (undefined: every profile), so that a list reads only what the
 * caller may read: company admins and an incentive role on every location, all; otherwise the profiles serving one of
 * the locations the caller's incentive roles name, or every location (`['*']`, or none stored: servedLocations).
 */
export function readableBankProfilesFilter(actor: Pick<Actor, 'roles'>): Record<string, unknown> | undefined {
  if (isCompanyAdmin(actor)) return undefined;
  const incentive = incentiveGrants(actor);
  const named = incentive.flatMap((r) => r.locationIds);
  if (named.includes(ALL_LOCATIONS)) return undefined;
  return { $or: [{ locationIds: { $in: [...new Set(named), ALL_LOCATIONS] } }, { locationIds: null }, { locationIds: { $size: 0 } }] };
}

/**
 * `locationIds` as sent: one or more location ids, or `['*']` alone. Answers them without repeats, sorted (the
 * stored form), or the field problems.
 */
export function normalizeLocationIds(locationIds: readonly string[]): { locationIds: string[]; problems: FieldProblem[] } {
  const unique = [...new Set(locationIds)].sort();
  if (!unique.length) return { locationIds: [], problems: [{ field: 'locationIds', message: 'must name at least one location (or be ["*"])' }] };
  if (unique.includes(ALL_LOCATIONS) && unique.length > 1) {
    return { locationIds: [], problems: [{ field: 'locationIds', message: 'must be ["*"] alone (every location) or a list of location ids' }] };
  }
  return { locationIds: unique, problems: [] };
}

/**
 * A bank profile that is the default of locations is also theirs: only an Incentives admin of a location edits its
 * bank profile, so editing one needs the role on every location it is default for. Answers the locations the
 * actor lacks (none: may edit, as far as the defaults go; bankProfileServeBlockers decides for the locations served).
 */
export function bankProfileEditBlockers(actor: Pick<Actor, 'roles'>, defaultOf: string[]): string[] {
  return defaultOf.filter((locationId) => !holdsRole(actor, 'INCENTIVES_ADMIN', locationId));
}
