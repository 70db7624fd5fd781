import { Actor, holdsRole, isCompanyAdmin } from '@lib/access';

/**
 * Bank profiles belong to the partner, not to a location: any Incentives admin of the partner (on any of its
 * locations, or '*') creates them, and edits one that is no location's default (see bankProfileEditBlockers).
 */
export function canManageBankProfiles(actor: Pick<Actor, 'roles'>): boolean {
  return actor.roles.some((r) => r.role === 'INCENTIVES_ADMIN' && r.locationIds.length > 0);
}

/** Company admins and anyone with an incentives role read bank profiles (masked). */
export function canReadBankProfiles(actor: Pick<Actor, 'roles'>): boolean {
  return isCompanyAdmin(actor) || actor.roles.some((r) => (r.role === 'INCENTIVES_ADMIN' || r.role === 'INCENTIVES_USER') && r.locationIds.length > 0);
}

/**
 * A bank profile that is the default of locations is also theirs: only an Incentives admin of a location edits its
 * bank profile, so editing one needs the role on every location it is default for. Answers the locations the
 * actor lacks (none: may edit).
 */
export function bankProfileEditBlockers(actor: Pick<Actor, 'roles'>, defaultOf: string[]): string[] {
  return defaultOf.filter((locationId) => !holdsRole(actor, 'INCENTIVES_ADMIN', locationId));
}
